"""Benchmark definitions: every shipped eval/*.yaml reads its real data (counts, fields, images), and
bad definitions or data give one-line errors naming the file, key or record."""
import json
from collections import Counter
from pathlib import Path

import pytest

from mmrl.errors import UserError
from mmrl.eval.benchmark import load_benchmark

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
CAD = [f"data_dir={SHARED / 'cadprompt'}"]

COUNTS = {"gsm8k": 1319, "math500": 500, "aime24": 30, "aime25": 30, "amc23": 40, "humaneval": 164,
          "mbpp": 500, "mbpp_plus": 378, "mathvision": 304, "geometry3k": 10, "mathverse": 788, "cadprompt": 200,
          "scenes": 168, "scenes_grounding": 24, "scenes_gui": 24, "products": 200}


def bench(name, *overrides):
    return load_benchmark(REPO / "eval" / f"{name}.yaml", list(overrides) + (CAD if name == "cadprompt" else []))


def test_every_shipped_benchmark_has_a_definition():
    assert {p.stem for p in (REPO / "eval").glob("*.yaml")} == set(COUNTS)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_benchmark_reads_all_its_real_data(name):
    b = bench(name)
    samples = b.samples()
    assert len(samples) == COUNTS[name]
    assert len({s.id for s in samples}) == len(samples)
    for s in samples[:3] + samples[-3:]:
        assert b.prompt_text(s).strip() and b.reference_text(s).strip()
        item = b.verifier_item(s, "x")
        assert item["gold"] not in (None, "", [], {}) and item["verifier"] in ("math", "mcq", "code", "cad", "grounding", "gui")
        assert all(p.is_file() for p in s.images)


def test_gsm8k_gold_is_the_number_after_the_hashes():
    s = bench("gsm8k").samples(1)[0]
    assert s.fields["answer"] == "18" and "####" not in s.fields["solution"]


def test_aime25_reads_problem_files_beside_the_csv():
    b = bench("aime25")
    s = {x.id: x for x in b.samples()}
    assert s["aime_2025_I/1"].fields["answer"] == "70"
    assert s["aime_2025_I/1"].fields["question"].startswith("Find the sum of all integer bases")
    assert Counter(x.fields["contest"] for x in s.values()) == {"aime_2025_I": 15, "aime_2025_II": 15}


def test_math500_subjects_match_the_published_split():
    counts = Counter(s.fields["subject"] for s in bench("math500").samples())
    assert counts == {"Algebra": 124, "Intermediate Algebra": 97, "Prealgebra": 82, "Number Theory": 62,
                      "Precalculus": 56, "Geometry": 41, "Counting & Probability": 38}


def test_image_benchmarks_attach_their_images():
    samples = bench("mathvision").samples()
    assert all(len(s.images) == 1 and s.images[0].name == f"{s.id}.jpg" for s in samples[:20])
    choice = next(s for s in samples if s.fields["options"])
    assert bench("mathvision").verifier_item(choice, "")["verifier"] == "mcq"
    g = bench("geometry3k")
    first = g.samples(1)[0]
    assert first.images[0].name == "img_diagram.png" and g.verifier_item(first, "")["choices"] == ["30", "40", "60", "80"]
    assert "D. 80" in g.prompt_text(first)


def test_mbpp_uses_the_test_split_and_mathverse_routes_by_question_type():
    ids = [int(s.id) for s in bench("mbpp").samples()]
    assert min(ids) == 11 and max(ids) == 510
    mathverse = bench("mathverse")
    routed = Counter(mathverse.verifier_item(s, "")["verifier"] for s in mathverse.samples())
    assert routed == {"mcq": 436, "math": 352}


def test_cadprompt_is_read_from_the_data_dir_parameter(tmp_path):
    b = bench("cadprompt")
    s = b.samples(1)[0]
    assert Path(b.verifier_item(s, "")["gold"]).is_file() and "cq." in s.fields["program"]
    assert not (REPO / "data" / "cadprompt").exists()   # no license: not shipped
    with pytest.raises(UserError, match=r"data_dir not found: .*nowhere.*--set data_dir"):
        load_benchmark(REPO / "eval" / "cadprompt.yaml", [f"data_dir={tmp_path / 'nowhere'}"]).samples()


def test_overrides_and_limit():
    b = bench("gsm8k", "sampling.n=4", "sampling.temperature=0.5", "metrics=[pass@1, maj@4]")
    assert b.sampling.n == 4 and b.metric_names() == ["pass@1", "maj@4"] and len(b.samples(5)) == 5
    assert bench("aime24", "sampling.n=8").metric_names() == ["pass@1", "pass@8", "avg@8", "maj@8"]


# --- bad input: one line that names the problem -------------------------------------------------

def write(tmp_path, config, records=None, name="b.yaml"):
    import yaml
    if records is not None:
        (tmp_path / "d.jsonl").write_text(records)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config) if isinstance(config, dict) else config)
    return path


BASE = {"name": "t", "data_dir": ".", "data": {"path": "d.jsonl", "fields": {"q": "q", "a": "a"}},
        "prompt": "{{ q }}", "reference": "\\boxed{ {{ a }} }", "verifier": {"name": "math", "gold": "a"}}
ROWS = '{"q": "1+1", "a": "2"}\n{"q": "2+2", "a": "4"}\n'


def edit(**changes):
    config = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = config
        for p in parents:
            node = node[p]
        node[last] = value
    return config


@pytest.mark.parametrize("config, rows, message", [
    (edit(promt="x"), ROWS, r"b\.yaml: promt: unknown key; allowed: name, description"),
    (edit(prompt="{{ q "), ROWS, r"t: prompt: template error on line 1"),
    (edit(data__fields={"q": "question"}), ROWS, r"record 0 of .*d\.jsonl, field 'q': the record has no key 'question'"),
    (edit(prompt="{{ nothing }}"), ROWS, r"t: prompt of sample 0: 'nothing' is undefined"),
    (edit(data__id="{{ q[0] }}"), ROWS.replace("2+2", "1+3"), r"duplicate sample id '1'"),
    (edit(data__path="*.parquet"), ROWS, r"no data file matches .*\*\.parquet"),
    (edit(data__path="d.jsonl"), '{"q": "1+1", "a": "2"}\n{"q": oops}\n', r"d\.jsonl: cannot read"),
    (edit(data__path="d.jsonl"), '["not", "an", "object"]\n', r"d\.jsonl: record 1 is a list, expected an object"),
    (edit(data__filter="q == 'none'"), ROWS, r"t: no samples in"),
    (edit(metrics=["pass@0"]), ROWS, r"metrics: unknown metric 'pass@0'"),
    (edit(sampling={"n": 4, "temperature": 0}), ROWS, r"sampling: n=4 responses at temperature 0"),
    (edit(verifier__name="maths"), ROWS, r"b\.yaml: verifier\.name: unknown verifier 'maths'; known: .*math"),
    (edit(verifier__gold="answer"), ROWS, r"verifier refers to field 'answer', not in data.fields \(a, q\)"),
    (edit(data__images=["{{ q }}.png"]), ROWS, r"record 0 of .*: image not found: .*1\+1\.png"),
    ("- just\n- a list\n", ROWS, r"b\.yaml: expected a mapping at the top level"),
    ("a: [unclosed\n", ROWS, r"b\.yaml: not valid YAML"),
])
def test_bad_definitions_and_data_give_one_line_errors(tmp_path, config, rows, message):
    path = write(tmp_path, config, rows)
    with pytest.raises(UserError, match=message) as err:
        b = load_benchmark(path)
        s = b.samples()
        b.prompt_text(s[0]), b.verifier_item(s[0], "")
    assert "\n" not in str(err.value)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="expected key.sub=value"):
        load_benchmark(write(tmp_path, BASE, ROWS), ["sampling.n"])
    with pytest.raises(UserError, match="benchmark file not found: .*missing.yaml"):
        load_benchmark(tmp_path / "missing.yaml")
