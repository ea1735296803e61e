"""The training preflight (`mmrl train --dry-run`, and first thing in every real run): on real data
(GSM8K lines, MATH-Vision images) it checks data, images, model folder, verifier options,
algorithm parameters and golds, and reports every problem at once, one line each, exit 2."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmrl.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
GSM8K = SHARED / "gsm8k" / "test.jsonl"
MATHVISION = SHARED / "mathvision"
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def gsm8k_rows(n: int) -> list[dict]:
    """The first n GSM8K test problems as mmrl samples (gold = the number after '####')."""
    rows = [json.loads(line) for line in GSM8K.read_text().splitlines()[:n]]
    return [{"question": r["question"], "answer": r["answer"].split("####")[-1].strip().replace(",", "")}
            for r in rows]


def mathvision_rows(n: int, folder: Path) -> list[dict]:
    """n MATH-Vision problems with their real images, copied beside the data file."""
    rows = [json.loads(line) for line in (MATHVISION / "data" / "testmini.jsonl").read_text().splitlines()[:n]]
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for r in rows:
        shutil.copy(MATHVISION / r["image"], folder / r["image"])
    return [{"question": r["question"], "answer": r["answer"], "images": [r["image"]]} for r in rows]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def dry_run(capsys, *args) -> tuple[int, str, str]:
    code = main(["train", *map(str, args), "--dry-run"])
    out, err = capsys.readouterr()
    return code, out, err


def test_user_file_is_the_data_and_the_preflight_passes(tmp_path, capsys):
    data = write_jsonl(tmp_path / "mine.jsonl", gsm8k_rows(12))
    code, out, err = dry_run(capsys, QUICKSTART, f"data.train={data}")
    assert code == 0, err
    assert f"train: {data}" in out and "generate: null" in out   # the resolved recipe: the user's file only
    assert f"data.train: {data}" in out and "12 samples" in out   # the preflight table names it
    assert "golds" in out and "4 of 4 judged" in out
    assert "warning: no held-out data: logging.eval_samples=100 evaluates nothing" in out  # the generator's split went too


def test_five_problems_in_one_recipe_are_all_reported(tmp_path, capsys):
    rows = mathvision_rows(3, tmp_path)                   # real images, decode fine
    rows[1]["images"] = ["images/not_there.png"]          # 1: a missing image
    rows.append({"question": "What is 2+2?"})             # 2: a sample without its gold
    rows.append({"question": "Pick one.", "answer": "Z", "verifier": "mcq"})  # 3: a gold mcq cannot judge
    write_jsonl(tmp_path / "train.jsonl", rows)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "no_such_architecture"}')  # 4: a broken model folder
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"base: {QUICKSTART}\nbackbone: {{model: {model}}}\ndata: {{train: train.jsonl}}\n"
                      "algorithm: {name: dapo, params: {eps: 0.2}}\n")     # 5: a parameter dapo does not have
    code, out, err = dry_run(capsys, recipe, "verifiers.options.math.answer_format=nope")  # 6: an option value
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0].startswith("mmrl train: error: preflight found 6 problems")
    problems = lines[1:]
    expected = ["not_there.png: no such file", "have no 'answer'; first: sample 3",
                "gold 'Z' cannot be judged by mcq", f"backbone.model {model}: config.json does not load",
                "eps: unknown key; allowed:", "verifiers.options.math: "]
    for text in expected:
        assert sum(text in line for line in problems) == 1, (text, problems)
    assert len(problems) == 6 and "Traceback" not in err
    assert "FAIL" in out   # the summary table was printed too


def test_non_utf8_data_file_is_one_line_naming_it(tmp_path, capsys):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(json.dumps({"question": "Combien coûte", "answer": "3"}).encode("latin-1").replace(b"\\u00fb", b"\xfb")
                    + b"\n")
    code, _, err = dry_run(capsys, QUICKSTART, f"data.train={bad}")
    assert code == 2
    (line,) = [l for l in err.splitlines() if "latin1.jsonl" in l]
    assert "not UTF-8 text (line 1" in line


def test_images_need_a_vision_model(tmp_path, capsys):
    write_jsonl(tmp_path / "train.jsonl", mathvision_rows(2, tmp_path))
    code, out, err = dry_run(capsys, QUICKSTART, f"data.train={tmp_path / 'train.jsonl'}")
    assert code == 2
    assert "a text model (llama), but samples have images" in err
    assert "2 decoded" in out


def test_a_truncated_image_is_named_or_skipped_by_policy(tmp_path, capsys):
    rows = mathvision_rows(2, tmp_path)
    raw = (tmp_path / rows[0]["images"][0]).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(raw[: len(raw) // 3])
    rows[0]["images"] = ["cut.jpg"]
    write_jsonl(tmp_path / "train.jsonl", rows)
    args = (QUICKSTART, f"data.train={tmp_path / 'train.jsonl'}", "backbone.model=smolvl")
    code, _, err = dry_run(capsys, *args)
    assert code == 2 and "cut.jpg: cannot be decoded" in err and "data.on_bad_image=skip" in err
    code, out, err = dry_run(capsys, *args, "data.on_bad_image=skip")
    assert code == 0, err
    assert "1 samples will be skipped" in out


def test_unknown_sample_verifier_and_a_verifier_that_is_not_a_name(tmp_path, capsys):
    rows = gsm8k_rows(3)
    rows[0]["verifier"] = "maths"
    rows[1]["verifier"] = {"name": "math"}
    write_jsonl(tmp_path / "t.jsonl", rows)
    code, _, err = dry_run(capsys, QUICKSTART, f"data.train={tmp_path / 't.jsonl'}")
    assert code == 2
    assert "unknown verifier 'maths'" in err
    assert "1 samples have a 'verifier' that is not a name; first: sample 1" in err


def test_a_real_run_stops_at_the_preflight_before_the_training_stack(tmp_path):
    """Not a dry run: the bad data is found before DeepSpeed, vLLM or the trainer are imported."""
    write_jsonl(tmp_path / "t.jsonl", [{"question": "no gold here"}])
    code = (f"import sys; from mmrl.cli import main; "
            f"rc = main(['train', {str(QUICKSTART)!r}, 'data.train=t.jsonl', 'output_dir={tmp_path}/run']); "
            "print(rc, sorted(m for m in ('deepspeed', 'vllm', 'mmrl.train.loop') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "2 []", result.stdout + result.stderr
    assert "have no 'answer'" in result.stderr


def test_launched_env_name_matches_the_launcher():
    from mmrl.commands import train
    from mmrl.train import distributed
    assert train.LAUNCHED == distributed.LAUNCHED


def test_dry_run_finds_a_run_folder_generated_with_other_settings(tmp_path, capsys):
    from mmrl.data.generate import generate_split_files
    from mmrl.recipe import load_recipe
    args = [f"output_dir={tmp_path}/run", "data.generate.train_size=8", "data.generate.held_out_size=0"]
    recipe = load_recipe(QUICKSTART, args)
    generate_split_files(recipe.data.generate, recipe.run_dir / "data")   # an earlier run's data
    assert dry_run(capsys, QUICKSTART, *args)[0] == 0                      # same settings: reused
    code, _, err = dry_run(capsys, QUICKSTART, *args, "data.generate.config.max_digits=2")
    assert code == 2
    assert "holds data generated with other settings (config:" in err and "use another run name" in err


def test_table_text_is_not_read_as_markup(tmp_path):
    import io
    from mmrl.preflight import Report
    report = Report("t")
    report.add("data", "[bold]x[/bold] [1, 2]", warnings=["a [red] warning [/]"])
    out = io.StringIO()
    report.print(out)
    assert "[bold]x[/bold] [1, 2]" in out.getvalue() and "a [red] warning [/]" in out.getvalue()


def test_a_sample_column_with_a_value_its_verifier_refuses_is_named(tmp_path, capsys):
    rows = gsm8k_rows(4)
    rows[2] = {"question": "Which is largest?", "answer": "B", "verifier": "mcq", "choices": "1, 5, 3"}  # not a list
    write_jsonl(tmp_path / "t.jsonl", rows)
    code, _, err = dry_run(capsys, QUICKSTART, f"data.train={tmp_path / 't.jsonl'}")
    assert code == 2
    (line,) = [l for l in err.splitlines() if "refuses" in l]
    assert "1 samples give option values their verifier refuses; first: sample 2 of" in line and "choices" in line


def test_tools_are_checked_before_the_training_stack(capsys):
    """An unknown tool or an unimportable tools module is a preflight line, not a crash at the first
    rollout after DeepSpeed and vLLM have loaded."""
    recipe = ROOT / "recipes" / "tool_python.yaml"
    code, out, err = dry_run(capsys, recipe, "tools.enabled=[python,calculator]", "tools.modules=[no_such_tools_module]")
    assert code == 2
    assert "tools.modules: cannot import 'no_such_tools_module'" in err
    code, out, err = dry_run(capsys, recipe, "tools.enabled=[python,calculator]")
    assert code == 2 and "tools.enabled: unknown tool(s) ['calculator']" in err and "Traceback" not in err
    code, out, err = dry_run(capsys, recipe)
    assert code == 0, err
    assert "tools" in out and "python" in out


@pytest.mark.parametrize("cpu_has_bf16", [False, True])
def test_bf16_asked_of_a_cpu_without_bf16_is_a_warning_naming_the_keys(capsys, monkeypatch, cpu_has_bf16):
    """bf16 on a CPU without bf16 instructions runs on a reference matmul kernel (measured here on an
    AVX2 EPYC: 9x the float32 time forward, 28x backward): a run that silently takes hours."""
    from mmrl.models import backbone
    monkeypatch.setattr(backbone, "has_bf16", lambda: cpu_has_bf16)
    code, out, err = dry_run(capsys, QUICKSTART, "backbone.dtype=bfloat16", "rollout.dtype=bfloat16")
    assert code == 0, err
    said = "backbone.dtype=bfloat16, rollout.dtype=bfloat16: this CPU has no bf16 instructions" in out
    assert said != cpu_has_bf16
    code, out, err = dry_run(capsys, QUICKSTART, "backbone.dtype=auto", "rollout.dtype=auto")
    assert "no bf16 instructions" not in out  # auto picks float32 there
