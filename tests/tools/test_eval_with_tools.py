"""`mmrl eval` with tools: the benchmark's tools section (or --tools) runs the multi-turn driver, the
verifier judges the last policy turn, and the summary splits scores by tool use."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmrl.data.generate import generate_split_files
from mmrl.eval.benchmark import load_benchmark
from mmrl.eval.generate import engine_responder
from mmrl.eval.report import write_outputs
from mmrl.eval.runner import evaluate
from mmrl.recipe import load_recipe
from fake_engine import FakeEngine

REPO = Path(__file__).resolve().parents[2]


def product_script(context, sample):
    """Turn 1: a python call computing the asked product (sample 0) or a guess (sample 1);
    turn 2: the number the tool printed."""
    for opening in ("Tool output:\n", "<|im_start|>tool\n"):  # tools.role user (the benchmark's) or tool
        if opening in context:
            return "The answer is " + context.rsplit(opening, 1)[1].split("\n")[0] + "."
    a, b = re.findall(r"(\d+) \* (\d+)", context)[-1]
    return f"```python\nprint({a} * {b})\n```" if sample == 0 else "The answer is 12345."


@pytest.mark.parametrize("tools", [[], ["tools=null", "tools.enabled=[python]"]], ids=["yaml", "override"])
def test_eval_with_the_python_tool_judges_the_last_turn_and_splits_by_tool_use(tokenizer, tmp_path, tools):
    bench = load_benchmark(REPO / "eval" / "products.yaml", [*tools, "sampling.n=2", "sampling.temperature=1.0"])
    engine = FakeEngine(tokenizer, product_script)
    engine.processor = tokenizer
    summary = evaluate(bench, tmp_path, engine_responder(bench, engine), {"model": "scripted"}, limit=3, workers=1)
    records = [json.loads(line) for line in (tmp_path / "samples.jsonl").open()]
    first = records[0]["responses"][0]
    assert first["tool_calls"] == 1 and first["turns"] == 2 and first["tool_errors"] == 0
    assert first["text"] == f"The answer is {records[0]['gold']}." and "print(" in first["transcript"]
    assert [v["parts"]["accuracy"] for r in records for v in r["verdicts"]] == [1.0, 0.0] * 3
    tools = summary["tools"]
    assert (tools["use_rate"], tools["reward_with_tool"], tools["reward_without_tool"]) == (0.5, 1.0, 0.0)
    assert "## Tool use" in write_outputs(tmp_path, summary).read_text()


def test_without_tools_the_summary_has_no_tool_section(tokenizer, tmp_path):
    bench = load_benchmark(REPO / "eval" / "products.yaml", ["tools=null"])
    engine = FakeEngine(tokenizer, lambda context, sample: "```python\nprint(1)\n```")
    engine.processor = tokenizer
    summary = evaluate(bench, tmp_path, engine_responder(bench, engine), {"model": "scripted"}, limit=2, workers=1)
    assert "tools" not in summary and summary["metrics"]["pass@1"]["value"] == 0.0


def test_a_response_stopped_at_the_turn_limit_is_judged(tokenizer, tmp_path):
    # the policy calls the tool every turn until max_turns: its last turn (a code block) is judged
    # like any other ending (wrong: no answer), never left unjudged for an unknown finish reason
    bench = load_benchmark(REPO / "eval" / "products.yaml", ["tools.max_turns=2"])
    engine = FakeEngine(tokenizer, lambda context, sample: "```python\nprint(6 * 7)\n```")
    engine.processor = tokenizer
    evaluate(bench, tmp_path, engine_responder(bench, engine), {"model": "scripted"}, limit=2, workers=1)
    records = [json.loads(line) for line in (tmp_path / "samples.jsonl").open()]
    for record in records:
        (response,), (verdict,) = record["responses"], record["verdicts"]
        assert response["turns"] == 2 and response["ended"] == "max_turns"
        assert verdict["status"] != "infra_error" and verdict["score"] is not None, verdict
        assert verdict["parts"]["accuracy"] == 0.0


def test_an_unknown_tool_is_named_before_any_model_loads(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mmrl.cli", "eval", str(REPO / "eval" / "products.yaml"),
                           "--tools", "python,calculator", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert "unknown tool(s) ['calculator']" in lines[-1]
    assert not any("vllm" in line.lower() or "Traceback" in line for line in lines)  # no engine started


def test_the_shipped_held_out_set_is_the_python_tool_recipes(tmp_path):
    recipe = load_recipe(REPO / "recipes" / "tool_python.yaml")
    bench = load_benchmark(REPO / "eval" / "products.yaml")
    assert bench.tools == recipe.tools and bench.system == recipe.data.system_prompt
    _, held = generate_split_files(recipe.data.generate, tmp_path)
    assert held.read_bytes() == (REPO / "data" / "products" / "held_out.jsonl").read_bytes()


@pytest.mark.integration
def test_real_eval_with_the_python_tool_on_smollm2(tmp_path):
    """The real CLI, SmolLM2 on the transformers engine, the real sandbox: every response carries its
    tool use and the summary its tool table (whatever the model chose to do)."""
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "mmrl.cli", "eval", str(REPO / "eval" / "products.yaml"), "--engine", "hf",
                           "--limit", "2", "--n", "2", "--temperature", "1.0", "--max-new-tokens", "64", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in (out / "samples.jsonl").open()]
    responses = [r for rec in records for r in rec["responses"]]
    assert len(responses) == 4 and all(r["turns"] == r["tool_calls"] + 1 or r["finish_reason"] != "stop"
                                       for r in responses)
    assert all({"transcript", "tool_calls", "tool_errors", "tool_seconds"} <= set(r) for r in responses)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tools"]["use_rate"] == sum(r["tool_calls"] > 0 for r in responses) / 4
    assert "## Tool use" in (out / "report.md").read_text()
