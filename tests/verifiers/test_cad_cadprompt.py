"""CADPrompt (200 text-to-CadQuery samples, /work/shared/data/cadprompt; not shipped: no license):
each reference program, run in the sandbox, against its own reference mesh and against the next
sample's mesh. Two pool workers, one sandboxed CadQuery zygote each; about 3 minutes on 2 cores."""
import statistics
from pathlib import Path

import pytest

from mmrl_verifiers import VerifierPool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "cadprompt" / "CADPrompt"


def item(sample: Path, gold) -> dict:
    program = (sample / "Python_Code.py").read_text()
    return {"verifier": "cad", "response": f"```python\n{program}\n```", "gold": gold, "think_mode": "none"}


def quantiles(scores):
    qs = statistics.quantiles(scores, n=20, method="inclusive")
    return {"min": min(scores), "p5": qs[0], "p25": qs[4], "median": qs[9], "p75": qs[14], "max": max(scores)}


def test_reference_programs_score_high_on_their_own_mesh_and_low_on_another():
    samples = sorted(p for p in ROOT.iterdir() if p.is_dir())
    assert len(samples) == 200
    own = [item(s, str(s / "Ground_Truth.stl")) for s in samples]
    other = [item(s, str(samples[(i + 1) % len(samples)] / "Ground_Truth.stl")) for i, s in enumerate(samples)]
    # the reference mesh made again from the program in the sandbox (every 5th sample)
    remade = [item(s, {"script": (s / "Python_Code.py").read_text()}) for s in samples[::5]]
    with VerifierPool(workers=2, preload=["cad"]) as pool:
        verdicts = pool.map(own + other + remade)
    v_own, v_other, v_remade = verdicts[:200], verdicts[200:400], verdicts[400:]

    bad = [(s.name, v.status, v.reason) for s, v in zip(samples, v_own + v_other) if v.status != "ok"]
    assert not bad, bad
    s_own, s_other = [v.score for v in v_own], [v.score for v in v_other]
    print("\nown mesh:", {k: round(x, 4) for k, x in quantiles(s_own).items()},
          f"{sum(s >= 0.99 for s in s_own)}/200 >= 0.99")
    print("other mesh:", {k: round(x, 4) for k, x in quantiles(s_other).items()})
    # The STL meshes were exported by an older CadQuery with a coarser tessellation, and a few
    # programs do not reproduce their STL exactly (volumes 4-9 % off); thin curved parts then lose
    # IoU (docs/cad-verifier.md). The rest score >= 0.99.
    assert sum(s >= 0.99 for s in s_own) >= 170
    assert min(s_own) >= 0.85 and statistics.median(s_own) >= 0.999
    assert statistics.median(s_other) <= 0.25
    gaps = [a - b for a, b in zip(s_own, s_other)]
    assert min(gaps) >= 0.2, min(gaps)
    # against the mesh remade from the program itself, every reference is (near) perfect
    assert all(v.status == "ok" and v.score >= 0.99 for v in v_remade), [(v.score, v.reason) for v in v_remade]
