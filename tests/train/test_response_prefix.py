"""data.response_prefix (and an eval benchmark's response_prefix): text the assistant's turn starts
with, written for the model. It ends every prompt, and the verifier judges it together with what
the model wrote after it; a model that only completes the answer's opening is scored on the answer."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmrl.data import chat_prompt
from mmrl.eval.benchmark import load_benchmark
from mmrl.eval.generate import engine_responder
from mmrl.models import load_processor
from mmrl.recipe import load_recipe
from mmrl.rollout import GenRequest
from mmrl.train.rewards import score_responses
from mmrl_verifiers import VerifierPool

REPO = Path(__file__).resolve().parents[2]
OPENING = '<answer>{"action": "click", "point": ['
GOLD = {"action": "click", "bbox": [100, 200, 200, 240], "image_size": [336, 252]}


def _recipe(tmp_path, *overrides):
    """scenes_gui.yaml without its own prefix (the recipe writes one), then the overrides."""
    return load_recipe(REPO / "recipes" / "scenes_gui.yaml", [f"output_dir={tmp_path}", "verifiers.format_weight=0",
                                                             "verifiers.options.gui.coord_mode=hit",
                                                             "data.response_prefix=", *overrides])


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=1, preload=("gui",)) as p:
        yield p


def test_prompt_ends_with_the_prefix(tmp_path):
    recipe = _recipe(tmp_path, f"data.response_prefix={OPENING!r}")
    processor = load_processor("smollm2-135m-instruct")
    sample = {"question": "Click the Save button."}
    plain = chat_prompt(processor, sample, _recipe(tmp_path).data)
    assert chat_prompt(processor, sample, recipe.data) == plain + OPENING
    assert plain.endswith("assistant\n")  # the prefix comes after the turn's opening, inside the turn


@pytest.mark.parametrize("completion, prefixed, status", [
    ("150, 220]}</answer>", True, "ok"),          # completes the opening: a click inside the box
    ("300, 220]}</answer>", True, "wrong"),       # a click outside it
    ("150, 220]}</answer>", False, "format_error"),  # the same text without the opening is no answer
])
def test_the_verifier_judges_prefix_and_completion(tmp_path, pool, completion, prefixed, status):
    recipe = _recipe(tmp_path, *([f"data.response_prefix={OPENING!r}"] if prefixed else []))
    sample = {"question": "Click the Save button.", "answer": GOLD, "verifier": "gui"}
    done = SimpleNamespace(text=completion, finish_reason="stop")
    [(reward, _parts, _accuracy, got)], _metrics = score_responses(pool, [sample], [done], recipe.data,
                                                                   recipe.verifiers)
    assert got == status
    assert (reward == 1.0) == (status == "ok")


def test_format_reward_also_sees_the_prefix(tmp_path, pool):
    # the format verifier's think/answer check must see the <answer> tag the prefix opened
    recipe = _recipe(tmp_path, f"data.response_prefix={OPENING!r}", "verifiers.format_weight=0.5",
                     "verifiers.options.format={think_mode: none}")
    sample = {"question": "q", "answer": GOLD, "verifier": "gui"}
    done = SimpleNamespace(text="150, 220]}</answer>", finish_reason="stop")
    [(_reward, parts, _a, _s)], _m = score_responses(pool, [sample], [done], recipe.data, recipe.verifiers)
    assert parts["format"] == 0.5


def test_refused_with_tools(tmp_path):
    with pytest.raises(Exception, match="response_prefix is for single-turn"):
        load_recipe(REPO / "recipes" / "tool_python.yaml",
                    [f"output_dir={tmp_path}", "data.response_prefix=<think>"])


def test_eval_writes_the_prefix_for_the_model_and_judges_it():
    bench = load_benchmark(REPO / "eval" / "scenes_gui.yaml", [f"response_prefix={OPENING!r}"])
    [sample] = bench.samples(limit=1)
    seen: list[GenRequest] = []

    class Engine:  # records the request; answers like a model that completes the opening
        processor = load_processor("smolvl")

        def generate(self, requests, sampling):
            seen.extend(requests)
            return [[SimpleNamespace(text="150, 220]}</answer>", finish_reason="stop", token_ids=[1, 2])]
                    for _ in requests]

    [[response]] = engine_responder(bench, Engine())([sample])
    assert seen[0].prompt.endswith("assistant\n" + OPENING)
    assert response["text"] == OPENING + "150, 220]}</answer>"
