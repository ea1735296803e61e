"""Shared checks for the sandbox and code-verifier tests: no process left behind, host untouched."""
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def leftovers(marker: str) -> list[str]:
    """Processes still alive that carry `marker` in their command line (forked children inherit it)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            found.append(f"{proc.name} {cmd[:100]}")
    return found


@contextmanager
def host_guard():
    """Yields a host file outside any sandbox; afterwards checks it is unchanged and nothing was planted in /tmp."""
    folder = Path(tempfile.mkdtemp(prefix="mmrl-host-"))
    path = folder / "precious.txt"
    path.write_text("host data")
    before = set(os.listdir(tempfile.gettempdir()))
    try:
        yield path
        assert path.read_text() == "host data" and os.listdir(folder) == ["precious.txt"]
        new = set(os.listdir(tempfile.gettempdir())) - before
        assert not [n for n in new if "evil" in n], new
    finally:
        shutil.rmtree(folder)
