"""TRL and verl adapters: the call shapes those trainers use, scored through a VerifierPool."""
import pytest

from mmrl_verifiers import VerifierPool, adapters
from mmrl_verifiers.adapters import completion_text, compute_score, compute_score_batch, trl_reward


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=2, preload=("math",)) as p:
        yield p


def test_completion_text_forms():
    assert completion_text("plain") == "plain"
    assert completion_text([{"role": "assistant", "content": "hi"}]) == "hi"
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "a"},
                                                               {"type": "image"}, {"type": "text", "text": "b"}]}]) == "ab"
    with pytest.raises(ValueError, match="no assistant message"):
        completion_text([{"role": "user", "content": "q"}])


def test_trl_reward_function(pool):
    reward = trl_reward("math", gold_column="answer", pool=pool, think_mode="required")
    assert reward.__name__ == "math_reward"
    completions = [
        [{"role": "assistant", "content": r"<think>2+2</think> \boxed{4}"}],  # conversational
        r"<think>2+2</think> \boxed{5}",                                       # standard
        r"\boxed{4}",                                                         # no think block
        r"<think>t</think> \boxed{4}",
    ]
    scores = reward(prompts=["q"] * 4, completions=completions, answer=["4", "4", "4", r"\boxed{}"],
                    completion_ids=[[1]] * 4, trainer_state=None)
    assert scores == [1.0, 0.1, 0.0, None]  # None: broken gold, which TRL leaves out of the mean


def test_trl_option_columns_and_missing_column(pool):
    reward = trl_reward("mcq", gold_column="label", option_columns=["choices"], pool=pool)
    scores = reward(prompts=["q"] * 2, completions=[r"\boxed{6 cm}", r"\boxed{3 cm}"], label=["B", "B"],
                    choices=[["3 cm", "6 cm"], ["3 cm", "6 cm"]])
    assert scores == [1.0, 0.1]
    with pytest.raises(KeyError, match="no column 'label'.*answer"):
        reward(prompts=["q"], completions=["B"], answer=["B"])


def test_verl_compute_score(pool, monkeypatch):
    monkeypatch.setattr(adapters, "_VERL_POOL", pool)
    assert compute_score("lighteval/MATH", r"so \boxed{\frac{1}{2}}", "0.5") == {
        "score": 1.0, "acc": 1.0, "format": 1.0, "judged": 1.0}
    assert compute_score("x", r"\boxed{3}", "4", {"verifier_options": {"preset": "verl_dapo"}})["score"] == -1.0
    assert compute_score("x", "The answer is (C).", "C", {"verifier": "mcq"})["acc"] == 1.0
    assert compute_score("x", r"\boxed{1}", r"\boxed{}") == {"score": 0.0, "acc": 0.0, "format": 0.0, "judged": 0.0}


def test_verl_batch_form_keeps_order(pool, monkeypatch):
    monkeypatch.setattr(adapters, "_VERL_POOL", pool)
    results = compute_score_batch(["gsm8k"] * 3, [r"\boxed{1}", r"\boxed{2}", r"\boxed{3}"], ["1", "3", "3"],
                                  [None] * 3, verifier="math")
    assert [r["acc"] for r in results] == [1.0, 0.0, 1.0]
