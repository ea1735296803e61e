"""Every shipped benchmark end to end on the embedded models, with the vLLM and the transformers
engine: text benchmarks on SmolLM2-135M-Instruct, image benchmarks on smolvl (SmolLM2 + a small
vision tower). Tiny runs (2 problems with vLLM, 1 with transformers; n=2, 24 new tokens); one engine is shared by all the
benchmarks of a (engine, model) pair. The scores of a 135M model are ~0: these tests check the
pipeline (prompts, images, engines, verifiers, outputs), not the model."""
import json
import os
from pathlib import Path

import pytest

from mmrl.cli import main as mmrl_main
from mmrl.eval.benchmark import load_benchmark
from mmrl.eval.generate import engine_responder, open_engine
from mmrl.eval.runner import evaluate
from mmrl_verifiers import STATUSES, VerifierPool

pytestmark = pytest.mark.integration
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
CAD = [f"data_dir={REPO.parent / 'shared' / 'data' / 'cadprompt'}"]
TEXT = ["gsm8k", "math500", "aime24", "aime25", "amc23", "mathverse", "humaneval", "mbpp", "mbpp_plus", "cadprompt"]
IMAGES = ["mathvision", "geometry3k"]
TOKENS = 24
CASES = ([("vllm", "smollm2-135m-instruct", b) for b in TEXT] + [("vllm", "smolvl", b) for b in IMAGES]
         + [("hf", "smollm2-135m-instruct", b) for b in TEXT] + [("hf", "smolvl", b) for b in IMAGES])


class Engines:
    """One open engine at a time, reused while consecutive tests ask for the same (kind, model)."""

    def __init__(self):
        self.key, self.engine, self.info = None, None, None

    def get(self, kind, model):
        if self.key != (kind, model):
            self.close()
            self.engine, self.info = open_engine(model, kind, TOKENS, **({"threads": 1} if kind == "vllm" else {}))
            self.key = (kind, model)
        return self.engine, self.info

    def close(self):
        if self.engine is not None:
            self.engine.close()
        self.key = self.engine = None


@pytest.fixture(scope="module")
def engines():
    e = Engines()
    yield e
    e.close()


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=2, preload=("math", "mcq", "code")) as p:
        yield p


@pytest.mark.parametrize("kind, model, name", CASES, ids=[f"{k}-{b}" for k, _, b in CASES])
def test_benchmark_runs_end_to_end(kind, model, name, engines, pool, tmp_path):
    bench = load_benchmark(REPO / "eval" / f"{name}.yaml",
                           ["sampling.n=2", "sampling.temperature=0.8", f"sampling.max_new_tokens={TOKENS}",
                            "metrics=[pass@1, pass@2, avg@2, maj@2]", *(CAD if name == "cadprompt" else [])])
    engine, info = engines.get(kind, model)
    limit = 2 if kind == "vllm" else 1  # transformers generate is the slower engine on this CPU
    summary = evaluate(bench, tmp_path, engine_responder(bench, engine), info, limit=limit, pool=pool)
    assert summary["problems"] == limit and summary["responses"] == 2 * limit and summary["engine"] == kind
    m = summary["metrics"]
    assert all(0.0 <= m[k]["value"] <= 1.0 for k in ("pass@1", "pass@2", "maj@2"))
    assert -1.0 <= m["avg@2"]["value"] <= 1.0  # the mean reward: CAD's "no code" scores -0.9
    records = [json.loads(line) for line in (tmp_path / "samples.jsonl").open()]
    for record in records:
        assert len(record["responses"]) == len(record["verdicts"]) == 2
        assert record["prompt"] and len(record["images"]) == (1 if name in IMAGES else 0)
        for response, verdict in zip(record["responses"], record["verdicts"]):
            assert 1 <= response["tokens"] <= TOKENS and response["finish_reason"] in ("stop", "length")
            assert verdict["status"] in STATUSES
            assert verdict["score"] is not None, verdict["reason"]  # every response was judged


def test_cli_runs_reports_and_resumes(tmp_path, engines, capsys):
    engines.close()  # the CLI starts its own engine
    out = tmp_path / "run"
    args = ["eval", str(REPO / "eval" / "amc23.yaml"), "--engine", "hf", "--limit", "2", "--n", "2",
            "--max-new-tokens", "16", "--out", str(out)]
    assert mmrl_main(args) == 0
    first = (out / "samples.jsonl").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == 2 and set(summary["metrics"]) == {"pass@1", "pass@2", "avg@2", "maj@2"}
    assert (out / "report.md").is_file() and (out / "metrics.png").stat().st_size > 1000
    assert mmrl_main(args) == 0  # finished run: nothing regenerated, same records
    assert (out / "samples.jsonl").read_text() == first
    assert mmrl_main(["eval", "--compare", str(out), str(out), "--out", str(tmp_path / "cmp")]) == 0
    assert "| pass@1 |" in (tmp_path / "cmp" / "compare.md").read_text()
    capsys.readouterr()
