"""CLPO oracles from algorithms.md §15.15."""
import pytest

from mmrl.curriculum import CLPOConfig, bucket, extract_rewrite, informative, kl_scale, rewrite_instruction, wants_rewrite


@pytest.mark.parametrize("acc, kind, trained, rewritten", [
    (0.0, "hard", False, True), (0.25, "hard", True, True), (0.3, "hard", True, True),
    (0.5, "medium", True, True), (0.7, "medium", True, True), (0.75, "easy", True, False),
    (1.0, "easy", False, False),
])
def test_buckets(acc, kind, trained, rewritten):
    assert bucket(acc) == kind
    assert informative(acc) is trained
    assert wants_rewrite(kind) is rewritten


def test_kl_multiplier():
    beta = 0.001
    assert beta * kl_scale("hard") == pytest.approx(0.0005)
    assert beta * kl_scale("medium") == beta * kl_scale("easy") == beta


@pytest.mark.parametrize("accs", [[0, 0, 0, 0], [1, 1, 1, 1]])
def test_uniform_rewritten_groups_are_discarded(accs):
    assert not informative(sum(accs) / len(accs))


def test_rewrite_modes():
    cfg = CLPOConfig(rewrite="hard_only")
    assert wants_rewrite("hard", cfg) and not wants_rewrite("medium", cfg)
    cfg = CLPOConfig(rewrite="medium_only")
    assert wants_rewrite("medium", cfg) and not wants_rewrite("hard", cfg)
    with pytest.raises(ValueError, match="both.*hard_only.*medium_only"):
        CLPOConfig(rewrite="all")


def test_instructions_carry_question_and_answer_and_differ_by_kind():
    hard = rewrite_instruction("What is 17+25?", "42", "hard")
    medium = rewrite_instruction("What is 17+25?", "42", "medium")
    assert "What is 17+25?" in hard and "(42)" in hard and "simpler" in hard
    assert "differently worded" in medium and hard != medium
    assert "[UNKNOWN]" in rewrite_instruction("Q?", None, "hard")


def test_extraction_and_length_bounds():
    assert extract_rewrite("sure\n```text\nAdd 17 and 25. What do you get?\n```\n") == "Add 17 and 25. What do you get?"
    assert extract_rewrite("```\nCompute seventeen plus 25.\n```") == "Compute seventeen plus 25."
    assert extract_rewrite("```text\nshort\n```") is None
    assert extract_rewrite("x" * 2500) is None
    assert extract_rewrite("No block but a fine question?") == "No block but a fine question?"
