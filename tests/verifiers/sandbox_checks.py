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


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(stat.parent.name))
    return kids


def zygote_leftovers() -> list[str]:
    """Processes inside this process's warm sandboxes other than each one's bwrap init and zygote:
    the programs they ran and anything those started (warm runs have no marker in a command line)."""
    from mmrl_verifiers import sandbox_warm
    kids = _children()
    found = []
    for z in [*(z for zs in sandbox_warm._idle.values() for z in zs), *sandbox_warm._busy]:
        if z.proc is not None:
            inits = kids.get(z.proc.pid, [])
            zygote_pids = [p for init in inits for p in kids.get(init, [])]
            stack = [p for zp in zygote_pids for p in kids.get(zp, [])]
            while stack:
                pid = stack.pop()
                found.append(f"{pid} in the sandbox of zygote {zygote_pids}")
                stack += kids.get(pid, [])
    return found
