"""The seeing report's instrument (mmrl/scenes/seeing.py): its answers are statements built from the
held-out questions, scores do not depend on batching, and the ranking can read information that is
there -- told the scene's caption as text, the language model answers counts and shapes far better
than without it (the bare-word ranking it replaced could not: counts 4% with the caption, 21% without)."""
from pathlib import Path

import pytest
from PIL import Image

from mmrl.models.backbone import load_policy, load_processor
from mmrl.scenes import seeing

SCENES = Path(__file__).resolve().parents[2] / "data" / "scenes"


@pytest.fixture(scope="module")
def smolvl():
    return load_policy("smolvl", dtype="fp32")[0]


def test_every_heldout_probe_has_one_statement_per_candidate_naming_it():
    probes = seeing.probes(SCENES)
    assert {p.skill for p in probes} == set(seeing.SKILLS)
    for p in probes:
        statements = p.statements
        assert len(set(statements)) == len(p.candidates)
        named = [{"0": "no"}.get(c, c) if p.skill == "count" else seeing.RELATIONS.get(c, c) for c in p.candidates]
        assert all(f" {n} " in s or s.endswith(f" {n}.") or f'"{n}"' in s for n, s in zip(named, statements))
        assert "boxed" not in statements[p.gold] and "?" not in statements[p.gold]


def test_the_report_reads_only_the_skills_asked_and_names_an_unknown_one(capsys):
    probes = seeing.probes(SCENES, limit=3, skills=("count", "size"))
    assert sorted(p.skill for p in probes) == ["count"] * 3 + ["size"] * 3
    import importlib.util
    spec = importlib.util.spec_from_file_location("seeing_report", SCENES.parents[1] / "scripts" / "seeing_report.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--skills", "count,smell"]) == 2
    assert "--skills: unknown skill 'smell'" in capsys.readouterr().err


def test_the_swapped_image_is_another_item_of_the_same_skill_and_every_image_is_swapped_in_once():
    probes = seeing.probes(SCENES, limit=5)
    others = seeing.swaps(probes)
    assert all(o.skill == p.skill and o.image != p.image for p, o in zip(probes, others))
    for skill in seeing.SKILLS:
        assert sorted(o.id for p, o in zip(probes, others) if p.skill == skill) == \
            sorted(p.id for p in probes if p.skill == skill)


def test_a_question_of_another_form_is_named_not_guessed():
    with pytest.raises(ValueError, match="colour question"):
        seeing.statement("colour", "Which colour do you like?", "red")


@pytest.mark.integration  # loads smolvl's real weights
def test_seeing_probe_scores_are_the_same_batched_or_one_at_a_time(smolvl):
    processor = load_processor("smolvl")
    (probe,) = [p for p in seeing.probes(SCENES, limit=1) if p.skill == "position"]
    assert "?" in probe.question and "boxed" not in probe.question and "Choices" not in probe.question
    image = Image.open(probe.image).convert("RGB")
    answers = probe.statements + ["The shapes are at the top left."]
    batched = seeing.candidate_logprobs(smolvl, processor, image, probe.question, answers)
    single = [seeing.candidate_logprobs(smolvl, processor, image, probe.question, [a])[0] for a in answers]
    assert batched == pytest.approx(single, abs=1e-3)


@pytest.mark.integration
@pytest.mark.parametrize("skill", ["count", "shape"])
def test_told_the_caption_the_ranking_finds_the_answer_it_holds(smolvl, skill):
    """The ceiling reading against the same question without any scene: an instrument that cannot see
    the answer in its own context could not see it in an image either."""
    processor = load_processor("smolvl")
    probes = [p for p in seeing.probes(SCENES, limit=12) if p.skill == skill]
    right = {"caption": 0, "question only": 0}
    for p in probes:
        for reading, text in (("caption", seeing.readings(p, p)["caption"][1]), ("question only", p.question)):
            scores = seeing.candidate_logprobs(smolvl, processor, None, text, p.statements)
            right[reading] += max(range(len(scores)), key=scores.__getitem__) == p.gold
    assert right["caption"] - right["question only"] >= 4, right  # of 12; measured: counts +54, shapes +58 points on 24
