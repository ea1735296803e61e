"""Build-once model folders under the mmrl cache (~/.cache/mmrl, or $MMRL_CACHE).

Several processes (trainer, eval, tests) may ask for the same folder at the same time: the first
builds it into a temp dir beside the target and renames it into place under a file lock, so a
folder that exists is always complete and the others just wait for it."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from filelock import FileLock


def cache_root() -> Path:
    return Path(os.environ.get("MMRL_CACHE") or Path.home() / ".cache" / "mmrl")


def build_once(name: str, build: Callable[[Path], None]) -> Path:
    """Return cache_root()/models/<name>, calling build(tmp_dir) to make it the first time."""
    final = cache_root() / "models" / name
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock"):
        if final.is_dir():  # another process finished it while we waited
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
        try:
            build(tmp)
            tmp.chmod(0o755)  # mkdtemp makes it private
            os.rename(tmp, final)  # atomic: readers never see a half-written folder
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
