"""Checks of command-line values, shared by the commands and run before any work starts.

Numbers are checked by argparse `type=` functions (a bad value is refused while parsing, so a
`--workers 0` never reaches a pool that would wait forever); paths by the functions below, called
first thing in a command's run(). Each failure is one line naming the option.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from ..errors import UserError


def count(value: str) -> int:
    """An integer >= 1 (workers, limits, batch sizes, n)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def seconds(value: str) -> float:
    """A finite number of seconds > 0: nan would switch a hard time limit off, a negative or zero
    one would time every item out, inf would wait forever on a stuck check."""
    number = _float(value)
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {value!r}")
    return number


def temperature(value: str) -> float:
    number = _float(value)
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {value!r}")
    return number


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None


def output_file(option: str, path: Path, *inputs: Path) -> None:
    """`path` can be written as a file: its folder exists and is writable, it is not a folder and
    not one of the `inputs` (writing there would destroy the input while it is read)."""
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder; give a file path")
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{option} {path}: not writable")
    for source in inputs:
        if source.exists() and path.exists() and path.samefile(source):
            raise UserError(f"{option} {path}: is the input file; give another path")


def output_folder(option: str, path: Path) -> None:
    """`path` is a folder, or can be created as one (its nearest existing parent is a writable folder)."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: exists and is not a folder; give a folder path")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: {existing} is not writable")


def text_file(option: str, path: Path) -> None:
    """An input file exists and is UTF-8 text (a binary file is named here, not in a traceback)."""
    if not path.is_file():
        raise UserError(f"{option} {path}: no such file" if not path.exists() else f"{option} {path}: not a file")
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                        f"is it a binary file?") from None
