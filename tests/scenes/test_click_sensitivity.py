"""scripts/click_sensitivity.py: the instruction moved last keeps every word, the divergence is
zero only for equal distributions and symmetric, and a grid of one is refused."""
import importlib.util
from pathlib import Path

import pytest
import torch

from mmrl.scenes import gui

PATH = Path(__file__).resolve().parents[2] / "scripts" / "click_sensitivity.py"
spec = importlib.util.spec_from_file_location("click_sensitivity", PATH)
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)


def test_the_instruction_moves_last_with_every_word_kept():
    question = gui.instruction(gui.Element("button", "Save", (0, 0, 1, 1)))
    moved = script.instruction_last(question)
    assert moved.startswith("Answer with the click point") and moved.endswith("Click the Save button.")
    assert sorted(moved.split()) == sorted(question.split())


def test_the_divergence_is_symmetric_and_zero_only_for_equal_distributions():
    p, q = torch.log_softmax(torch.randn(50), -1), torch.log_softmax(torch.randn(50), -1)
    assert script.js(p, p) == pytest.approx(0, abs=1e-6)
    assert script.js(p, q) == pytest.approx(script.js(q, p)) and 0 < script.js(p, q) <= torch.log(torch.tensor(2.0))


def test_a_grid_of_one_is_refused():
    with pytest.raises(SystemExit) as e:
        script.main(["--n", "1"])
    assert e.value.code == 2
