"""CAD verifier end to end: scripts run in the bubblewrap sandbox (real CadQuery), spec test vectors
K1-K15 (verifiers.md §6.5), hostile scripts, format and gold errors, `mmrl verify --batch`."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmrl_verifiers import verify
from mmrl_verifiers import cad

pytestmark = pytest.mark.integration

W = "cq.Workplane('XY')"
GOLD = {"script": f"import cadquery as cq\nresult = {W}.box(20,10,5)"}


def answer(body: str, think: str = "<think>plan the box</think>\n") -> str:
    return f"{think}```python\nimport cadquery as cq\n{body}\n```"


def cad_verify(body, gold=GOLD, **options):
    return verify("cad", answer(body), gold, **options)


# (candidate, CD, IoU, r_cd, total) from the spec's table; CD to 3 significant digits.
VECTORS = {
    "K1": (f"result = {W}.box(20,10,5)", 1.34e-4, 1.0, 1.0, 1.0),
    "K2": (f"result = {W}.box(40,20,10)", 1.34e-4, 1.0, 1.0, 1.0),
    "K3": (f"result = {W}.box(20,10,5).translate((100,0,0))", 1.34e-4, 1.0, 1.0, 1.0),
    "K4": (f"result = {W}.box(20,10,6)", 8.09e-4, 0.8333, 0.7751, 0.8238),
    "K5": (f"result = {W}.box(20,10,5).faces('>Z').workplane().hole(4)", 6.11e-4, 0.9372, 0.8203, 0.8909),
    "K6": (f"result = {W}.circle(5).extrude(5)", 3.56e-2, 0.3004, 0.1661, 0.3099),
    "K7": (f"result = {W}.box(10,10,10)", 1.47e-1, 0.1250, 0.0, 0.1562),
    "K8": (f"result = {W}.box(20,10,5).faces('>Z').shell(-0.1)", 4.23e-3, 0.0492, 0.5091, 0.3512),
    "K9": (f"result = {W}.box(20,10,5).union({W}.box(0.1,0.1,0.1).translate((200,0,0)))", 3.14e-1, 0.0009, 0.0, 0.1004),
}


@pytest.mark.parametrize("name", list(VECTORS))
def test_spec_vectors_valid_shapes(name):
    body, cd, iou, r_cd, total = VECTORS[name]
    v = cad_verify(body)
    assert v.status == "ok", v.reason
    assert v.parts["cd"] == pytest.approx(cd, rel=0.02)
    assert v.parts["iou"] == pytest.approx(iou, abs=2e-3)
    assert v.parts["r_cd"] == pytest.approx(r_cd, abs=2e-3)
    assert v.score == pytest.approx(total, abs=2e-3)


def test_hollow_box_scores_below_a_slightly_wrong_solid_although_chamfer_likes_it():
    hollow, taller = cad_verify(VECTORS["K8"][0]), cad_verify(VECTORS["K4"][0])
    assert hollow.parts["r_cd"] > 0.5  # Chamfer alone would pay half the reward
    assert hollow.score < 0.4 < taller.score
    # the Chamfer-only preset indeed rewards it more than the default does
    assert cad_verify(VECTORS["K8"][0], preset="cad_coder").score > hollow.score + 0.1


@pytest.mark.parametrize("name, body, status, why", [
    ("K10", f"x = {W}.box(20,10,5)", "runtime_error", "no `result`"),
    ("K11", "raise ValueError('boom')", "runtime_error", "ValueError: boom"),
    ("K12", f"result = {W}.rect(20,10)", "runtime_error", "no solid"),
])
def test_spec_vectors_invalid_scripts_score_minus_0_8(name, body, status, why):
    v = cad_verify(body)
    assert (v.score, v.status) == (-0.8, status) and why in v.reason


def test_invalid_scores_below_every_valid_shape():
    worst_valid = cad_verify(VECTORS["K9"][0]).score
    assert cad_verify("raise ValueError('boom')").score < worst_valid
    assert verify("cad", "no code at all", GOLD).score < worst_valid


@pytest.mark.parametrize("response, why", [
    ("I cannot write code.", "<think>"),                                        # K13
    ("<think>x</think> here you go", "exactly one ```python block"),
    ("<think>x</think>```python\nresult=1\n```\n```python\nresult=2\n```", "found 2"),
    ("```python\nimport cadquery as cq\nresult = cq.Workplane().box(1,1,1)\n```", "<think>"),  # think required
    ("<think>x</think>```python\n" + "#" * 40000 + "\n```", "KiB"),
])
def test_format_failures_score_minus_0_9_without_running(response, why):
    v = verify("cad", response, GOLD)
    assert (v.score, v.status) == (pytest.approx(-0.9), "format_error") and why in v.reason


def test_think_mode_none_and_truncation():
    bare = "```python\nimport cadquery as cq\nresult = cq.Workplane().box(20,10,5)\n```"
    assert verify("cad", bare, GOLD, think_mode="none").score == pytest.approx(1.0)
    v = verify("cad", answer(VECTORS["K1"][0]), GOLD, finish_reason="length")
    assert v.status == "format_error" and "truncated" in v.reason


def test_cadrille_preset_k15():
    scores = [cad_verify(VECTORS[k][0], preset="cadrille").score for k in ("K1", "K4", "K6")]
    assert scores == pytest.approx([10.0, 8.333, 3.004], abs=5e-3)
    assert cad_verify("raise ValueError('boom')", preset="cadrille").score == -10.0
    assert verify("cad", "no code", GOLD, preset="cadrille").score == -10.0


# --- hostile scripts: each ends within its limits with a clear reason ---------------------------

@pytest.mark.parametrize("body, status, why, limit_s", [
    ("while True: pass", "timeout", "wall-clock limit", 3),                       # K14 (wall 3 s here)
    ("import time\ntime.sleep(1000)", "timeout", "wall-clock limit", 3),
    ("x = bytearray(8 * 1024**3)", "resource_limit", "memory limit", 3),
    ("x = []\nwhile True: x.append(bytearray(100 << 20))", "resource_limit", "memory limit", 20),
    ("open('big.bin', 'wb').write(b'x' * (200 << 20))", "resource_limit", "file-size limit", 3),
    ("open('/work/evil.txt', 'w').write('x')", "runtime_error", "Error", 3),
    ("import os\nos.system('touch /tmp/evil')\nopen('/etc/passwd').read()", "runtime_error", "passwd", 3),
    ("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)", "runtime_error", "Network is unreachable", 3),
    # fork bomb capped by nproc; it ignores the failed forks so it never ends by itself
    ("import os\nwhile True:\n    try: os.fork()\n    except OSError: pass", "timeout", "wall-clock limit", 3),
    ("import os\nos.listdir(f'/proc/{os.getppid()}/fd')", "runtime_error", "PermissionError", 3),  # zygote's pipes
    ("import os\nos.mkfifo('mesh.npz')\nos._exit(0)", "runtime_error", "without its shape", 3),
    ("import os\nos.symlink('/etc/hostname', 'mesh.npz')\nos._exit(0)", "runtime_error", "without its shape", 3),
    ("import os\nopen('mesh.npz', 'wb').write(b'junk')\nos._exit(0)", "runtime_error", "invalid shape", 3),
])
def test_hostile_scripts_end_within_limits(body, status, why, limit_s):
    v = cad_verify(body, wall_s=limit_s, memory_mb=1536)  # cadquery itself maps ~1 GiB
    assert v.info["script_wall_s"] < limit_s + 5  # measured by the zygote, clean-up included
    assert (v.status, v.score) == (status, -0.8) and why in v.reason, v.reason
    assert not Path("/work/evil.txt").exists()


def test_escaped_background_process_is_killed_after_the_job():
    marker = "mmrl-cad-escape-test-marker"
    body = (f"import os, time\nif os.fork() == 0:\n    os.setsid()\n    os.execv('/bin/sleep', ['/bin/sleep', '1000', '{marker}'])\n"
            f"result = {W}.box(20,10,5)")
    v = cad_verify(body)
    assert v.status == "ok" and v.score == pytest.approx(1.0)
    time.sleep(0.5)
    alive = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    assert alive == []


def test_a_script_that_kills_its_sandbox_is_failed_and_the_next_one_runs():
    v = cad_verify("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    assert (v.status, v.score) == ("runtime_error", -0.8) and "broke its sandbox" in v.reason
    assert cad_verify(VECTORS["K1"][0]).score == pytest.approx(1.0)


def test_a_script_that_writes_files_still_scores_by_its_shape():
    v = cad_verify(f"open('notes.txt', 'w').write('hi')\nresult = {W}.box(20,10,5)")
    assert v.status == "ok" and v.score == pytest.approx(1.0)


def test_cadquery_export_is_the_shape_even_when_result_is_a_sketch():
    body = f"result = cq.Sketch().rect(1, 1)\npart = {W}.box(20,10,5)\ncq.exporters.export(part, 'out.stl')"
    assert cad_verify(body).score == pytest.approx(1.0)


# --- gold and set-up errors: could not judge (None), never a zero -------------------------------

def test_gold_errors_are_unjudged(tmp_path):
    assert verify("cad", answer(VECTORS["K1"][0]), str(tmp_path / "missing.stl")).status == "gold_error"
    broken = tmp_path / "broken.stl"
    broken.write_text("solid nothing\nendsolid nothing\n")
    for gold in (str(broken), {"script": "raise ValueError('bad gold')"}, {"step_path": "x.step"}, 42,
                 {"mesh_path": str(broken), "compare_mode": "sideways"}):
        v = verify("cad", answer(VECTORS["K1"][0]), gold)
        assert v.score is None and v.status == "gold_error" and v.reason


def test_missing_cad_libraries_say_how_to_install(monkeypatch):
    real = cad.importlib.util.find_spec
    monkeypatch.setattr(cad.importlib.util, "find_spec", lambda m: None if m == "cadquery" else real(m))
    v = verify("cad", answer(VECTORS["K1"][0]), GOLD)
    assert v.score is None and "pip install 'mmrl-verifiers[cad]'" in v.reason and "cadquery" in v.reason


def test_unknown_preset_and_sandbox_mode_are_named():
    assert "cadrille" in verify("cad", answer("result=1"), GOLD, preset="nope").reason
    assert "absolute" in verify("cad", answer("result=1"), GOLD, compare_mode="sideways").reason
    assert verify("cad", answer("result=1"), GOLD, memory_mb=10**6).score is None
    v = verify("cad", answer(VECTORS["K1"][0]), GOLD, sandbox_mode="docker")
    assert v.score is None and "docker" in v.reason


def test_mesh_gold_and_absolute_mode(tmp_path):
    import trimesh
    stl = tmp_path / "gold.stl"
    trimesh.creation.box((20, 10, 5)).export(stl)
    assert cad_verify(VECTORS["K2"][0], gold=str(stl)).score == pytest.approx(1.0)
    v = cad_verify(VECTORS["K2"][0], gold={"mesh_path": str(stl), "compare_mode": "absolute"})
    assert v.parts["iou"] == pytest.approx(1 / 8, abs=1e-3) and v.score < 0.5


def test_mmrl_verify_batch_with_cad_items(tmp_path):
    rows = [{"verifier": "cad", "response": answer(VECTORS[k][0]), "gold": GOLD} for k in ("K1", "K8")]
    rows.append({"verifier": "cad", "response": answer("while True: pass"), "gold": GOLD, "wall_s": 2})
    rows.append({"verifier": "cad", "response": answer(VECTORS["K4"][0]), "gold": GOLD, "preset": "cadrille"})
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    p = subprocess.run([sys.executable, "-m", "mmrl.cli", "verify", "--batch", str(src), "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["status"] for g in got] == ["ok", "ok", "timeout", "ok"]
    assert [round(g["score"], 3) for g in got] == pytest.approx([1.0, 0.351, -0.8, 8.333], abs=3e-3)
