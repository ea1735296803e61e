"""Seconds per CAD verification on CADPrompt: the verifier (one sandboxed CadQuery zygote, a fork per
script) vs a cold sandbox per script (run_sandboxed: a fresh python that imports cadquery each time).

Each reference program is verified against its own Ground_Truth.stl, one at a time in this process:
  OMP_NUM_THREADS=1 .venv/bin/python bench/cad_verify.py [--samples 200] [--baseline 10]
Prints median and p95 seconds per verification for both and the ratio of the medians. The zygote's
one-time start (sandbox + cadquery import) is printed separately: a pool worker pays it once.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from mmrl_verifiers import cad, cad_geometry, cad_runner, verify
from mmrl_verifiers.sandbox import Limits, run_sandboxed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cadprompt" / "CADPrompt"


def stats(seconds: list[float]) -> str:
    p95 = statistics.quantiles(seconds, n=20, method="inclusive")[18] if len(seconds) > 1 else seconds[0]
    return f"median {statistics.median(seconds):.3f} s, p95 {p95:.3f} s (n={len(seconds)})"


def cold_verification(program: str, gold: Path) -> float:
    """The same work without the zygote: a fresh sandboxed interpreter per script."""
    t0 = time.perf_counter()
    job = {"id": "0", "script": program, "limits": {"wall_s": 30, "cpu_s": 31, "memory_mb": 4096, "fsize_mb": 64}}
    res = run_sandboxed([sys.executable, "-s", "-P", "cad_runner.py", "serve"],
                        files={"cad_runner.py": Path(cad_runner.__file__).read_bytes()},
                        stdin=json.dumps(job) + "\n", limits=Limits(wall_s=60, memory_mb=4096, nproc=64, fsize_mb=64))
    answer = json.loads(res.stdout.splitlines()[-1])
    pred = cad._mesh_from_npz(answer["mesh"])
    cad_geometry.compare(pred, cad_geometry.load_mesh(str(gold)))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--baseline", type=int, default=10, help="samples for the cold-sandbox baseline")
    args = ap.parse_args()
    samples = sorted(p for p in DATA.iterdir() if p.is_dir())[:args.samples]

    def run(sample: Path) -> float:
        t0 = time.perf_counter()
        v = verify("cad", f"```python\n{(sample / 'Python_Code.py').read_text()}\n```",
                   str(sample / "Ground_Truth.stl"), think_mode="none")
        assert v.status == "ok", (sample.name, v.reason)
        return time.perf_counter() - t0

    start = run(samples[0])
    zygote = [run(s) for s in samples]
    cold = [cold_verification((s / "Python_Code.py").read_text(), s / "Ground_Truth.stl")
            for s in samples[:args.baseline]]
    print(f"first verification (sandbox start + cadquery import): {start:.2f} s")
    print(f"zygote (the verifier):       {stats(zygote)}")
    print(f"cold sandbox per script:     {stats(cold)}")
    print(f"speed-up of the median: {statistics.median(cold) / statistics.median(zygote):.1f}x")


if __name__ == "__main__":
    main()
