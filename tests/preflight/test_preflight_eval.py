"""The eval preflight on real benchmarks: GSM8K and MATH-Vision pass as shipped; broken data, a
truncated image, a bad model folder are each one line, all at once, before any engine starts."""
import shutil
from pathlib import Path

import pytest

from mmrl.cli import main
from mmrl.errors import UserError
from mmrl.eval.benchmark import load_benchmark
from mmrl.preflight import preflight_benchmark

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"


def rows(report):
    return {c.name: (c.status, c.detail) for c in report.checks}


def test_gsm8k_gold_mode_passes_and_judges_the_first_references():
    report = preflight_benchmark(load_benchmark(ROOT / "eval" / "gsm8k.yaml"), None, limit=6, quiet=True)
    checks = rows(report)
    assert checks["samples"][0] == "ok" and checks["samples"][1].startswith("6 from ")
    assert checks["model"][0] == "skipped" and checks["golds"][0] == "ok"
    assert checks["golds"][1].startswith("4 of 4 judged")
    assert report.errors == []


def test_mathvision_images_decode_and_a_truncated_one_is_named(tmp_path):
    bench = load_benchmark(ROOT / "eval" / "mathvision.yaml")
    report = preflight_benchmark(bench, None, limit=3, quiet=True)
    assert rows(report)["images"] == ("ok", "3 of 3 decoded")
    # the same benchmark over a copy whose first image is cut in half
    (tmp_path / "data").mkdir()
    lines = (SHARED / "mathvision" / "data" / "testmini.jsonl").read_text().splitlines()[:3]
    (tmp_path / "data" / "testmini.jsonl").write_text("\n".join(lines) + "\n")
    shutil.copytree(SHARED / "mathvision" / "images", tmp_path / "images")
    first = tmp_path / "images" / "4.jpg"
    first.write_bytes(first.read_bytes()[:2000])
    broken = load_benchmark(ROOT / "eval" / "mathvision.yaml", [f"data_dir={tmp_path}"])
    with pytest.raises(UserError) as e:
        preflight_benchmark(broken, None, limit=3, quiet=True)
    (line,) = str(e.value).splitlines()[1:]
    assert "images: 1 cannot be decoded; first: sample 4: image" in line and "4.jpg" in line


def test_bad_data_and_a_bad_model_are_reported_together(tmp_path, capsys):
    (tmp_path / "test.jsonl").write_bytes('{"question": "caf\u00e9", "answer": "x #### 3"}\n'.encode("latin-1"))
    model = tmp_path / "model"
    model.mkdir()
    code = main(["eval", str(ROOT / "eval" / "gsm8k.yaml"), "--set", f"data_dir={tmp_path}",
                 "--model", str(model), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "preflight found 2 problems" in err
    assert "test.jsonl: cannot read" in err and "--model" in err and f"model folder {model} has no config.json" in err
    assert not (tmp_path / "out" / "samples.jsonl").exists()
