"""Multiple choice: the verifiers.md §2.3 table (gold C, 5 choices) plus gold forms and real data."""
import json
from pathlib import Path

import pytest

from mmrl_verifiers import verify
from mmrl_verifiers.mcq import extract_letter

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CHOICES = ["3 cm", "6 cm", "12 cm", "15 cm", "20 cm"]

SPEC_TABLE = [
    (r"\boxed{C}", 1, {}),
    ("The answer is (C).", 1, {}),
    ("<think>A or C?</think><answer>C</answer>", 1, {"answer_tag": "answer"}),
    (r"\boxed{\text{(C)}}", 1, {}),
    ("C. 12 cm", 1, {}),
    ("A, B or C", 0, {}),
    ("The answer is A or C", 0, {}),
    ("The answer is (C). Option A fails because …", 1, {}),
    (r"\boxed{A} ... \boxed{C}", 1, {}),
    ("I choose D", 0, {}),
    ("the answer is c", 1, {}),
    (r"\boxed{12 cm}", 1, {}),
    ("F", 0, {}),
]


@pytest.mark.parametrize("completion, accuracy, options", SPEC_TABLE, ids=[r[0] for r in SPEC_TABLE])
def test_spec_table(completion, accuracy, options):
    v = verify("mcq", completion, "C", choices=CHOICES, **options)
    assert v.parts["accuracy"] == accuracy, v.reason


@pytest.mark.parametrize("region, letter", [
    ("A, B or C", None), ("The answer is A or C", None),  # hedges: no answer, not a lottery ticket
    ("Answer: **B**", "B"), ("the correct option is c", "C"), ("$\\textbf{D}$", "D"),
    ("(B) because the ratio is 2", "B"), ("Option A fails. Option B fails. The answer is D.", "D"),
])
def test_extractor_rules(region, letter):
    assert extract_letter(region, "ABCDE")[0] == letter


def test_hedge_and_missing_are_parse_errors_with_reason():
    v = verify("mcq", "A, B or C", "C", choices=CHOICES)
    assert (v.score, v.status) == (0.1, "parse_error") and "A, B, C" in v.reason


def test_choice_value_match_through_math_parse():
    assert verify("mcq", r"\boxed{12}", "C", choices=CHOICES).parts["accuracy"] == 1
    assert verify("mcq", r"\boxed{13}", "C", choices=CHOICES).parts["accuracy"] == 0


def test_gold_forms_and_bad_gold():
    assert verify("mcq", "C", "(C)").score == 1.0
    assert verify("mcq", "C", "12 cm", choices=CHOICES).score == 1.0  # gold given as choice text
    bad = verify("mcq", "C", "Z", choices=CHOICES)
    assert bad.score is None and bad.status == "gold_error"


def test_letters_follow_the_number_of_choices():
    assert verify("mcq", "E", "A", choices=CHOICES[:4]).status == "parse_error"  # only A-D exist


def test_geometry3k_samples_self_agreement():
    """Each real Geometry3K sample: its gold letter and its gold choice text both score 1, the
    other letters 0."""
    folders = sorted(p for p in (DATA / "geometry3k" / "data_examples").iterdir() if (p / "data.json").is_file())
    assert len(folders) == 10
    for folder in folders:
        item = json.loads((folder / "data.json").read_text())
        gold, choices = item["answer"], item["choices"]
        assert verify("mcq", f"The answer is {gold}.", gold, choices=choices).score == 1.0
        text = choices["ABCD".index(gold)]
        assert verify("mcq", f"\\boxed{{{text}}}", gold, choices=choices).score == 1.0, folder
        for other in "ABCD".replace(gold, ""):
            assert verify("mcq", f"\\boxed{{{other}}}", gold, choices=choices).parts["accuracy"] == 0


def letter_like(choices: list[str]) -> bool:
    """Options that are themselves letters ('(c)', '(a)', … in MathVista pids 168, 849): a boxed
    '(b)' then reads as the letter B, ambiguous by construction."""
    return any(len(c.strip("() ")) == 1 and c.strip("() ").isalpha() for c in choices)


def test_mathvista_multi_choice_self_agreement():
    """MathVista testmini multi_choice items (gold = option text): the gold option's letter and its
    boxed text score 1, the next option's letter scores 0."""
    data = json.loads((DATA / "mathvista" / "data" / "testmini.json").read_text())
    items = [d for d in data.values() if d["question_type"] == "multi_choice"]
    assert len(items) > 500
    duplicated = 0
    for d in items:
        choices, gold = d["choices"], d["answer"]
        letter = "ABCDEFGHIJ"[choices.index(gold)]
        other = "ABCDEFGHIJ"[(choices.index(gold) + 1) % len(choices)]
        if choices.count(gold) > 1:  # two options with the gold text: the letter is unknowable
            duplicated += 1
            assert verify("mcq", f"The answer is ({letter}).", gold, choices=choices).status == "gold_error"
            continue
        assert verify("mcq", f"The answer is ({letter}).", gold, choices=choices).score == 1.0, d["pid"]
        assert verify("mcq", f"\\boxed{{{other}}}", gold, choices=choices).parts["accuracy"] == 0, d["pid"]
        if not letter_like(choices):
            assert verify("mcq", f"\\boxed{{{gold}}}", gold, choices=choices).score == 1.0, d["pid"]
    assert duplicated <= 3
