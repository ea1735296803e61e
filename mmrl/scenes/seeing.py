"""Does the model see? Per skill, accuracy on held-out scenes with the real image and with a blank
(white) image of the same size; the difference is what the model reads from the pixels. Two more
readings keep that number honest. "swapped" shows the image of another held-out item of the same
skill: a white image is unlike any scene, so it moves the answers of a tower that sees nothing (the
random tower: colour +21 points against blank), while any scene of the skill is a fair control, and
real - swapped is what the model reads from this image. "caption" is the ceiling: no image, the
scene's caption as text, what the language model can answer when told everything a tower could tell.

An answer is the candidate statement with the highest log-likelihood after the question ("The circle
is red.", "There are 3 stars in the image."), not a generated text: a 135M model's free-form answers
would measure its instruction following, not its seeing. Statements, not bare words ("red"): SmolLM2
answers in sentences, and a bare word as the whole answer is scored by its prior as a first word.
Measured on the held-out counts with the caption as text, bare words picked the right count 4% of
the time (21% without the caption); statements 71% (13% without). The question is the item's first
line, without the RL answer format (letters, \\boxed{}), the same in every reading."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .draw import PLURALS
from .items import MAX_COUNT, how_many

SKILLS = ("colour", "shape", "count", "position", "size", "word")
READINGS = ("real", "blank", "swapped", "caption")  # the image; a white one; another item's; the caption as text
SINGULARS = {plural: kind for kind, plural in PLURALS.items()}
RELATIONS = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}


@dataclass
class Probe:
    id: str
    skill: str
    image: Path
    question: str
    candidates: list[str]
    gold: int
    caption: str             # what a seeing tower could tell the model, as text (the ceiling reading)

    @property
    def statements(self) -> list[str]:
        """Each candidate as the sentence that answers the question (mmrl/scenes/items.py asks them)."""
        return [statement(self.skill, self.question, c) for c in self.candidates]


def statement(skill: str, question: str, candidate: str) -> str:
    """The answer sentence for `candidate`; ValueError when `question` is not the skill's question."""
    forms = {"colour": (r"What colour is the (\w+) in", "The {0} is {c}."),
             "shape": (r"What shape is the (\w+) object", "The {0} object is a {c}."),
             "count": (r"How many (\w+) are in", None),  # how_many() below
             "position": (r"Where is the (\w+ \w+) relative to the (\w+ \w+)\?", "The {0} is {rel} the {1}."),
             "size": (r"There are two (\w+)\.", "The larger {0} is {c}."),
             "word": (r"Which word is written", 'The word "{c}" is written in the image.')}
    pattern, form = forms[skill]
    found = re.match(pattern, question)
    if found is None:
        raise ValueError(f"{skill} question {question!r} does not match {pattern!r}")
    named = [SINGULARS.get(group, group) for group in found.groups()] if skill == "size" else found.groups()
    if skill == "count":  # grammatical, in the alignment facts' words: "There is 1 star", "There are no stars"
        return how_many(SINGULARS[named[0]], int(candidate))
    return form.format(*named, c=candidate, rel=RELATIONS.get(candidate, candidate))


def report_question(question: str) -> str:
    """An item's question as the report asks it: its first line, without the RL answer format."""
    return question.split("\n")[0].split(" Put the")[0]


def probes(data_dir: Path, limit: int | None = None, skills=SKILLS) -> list[Probe]:
    """The ranked-answer probes of a scenes folder (items.jsonl), at most `limit` per skill."""
    out, per = [], {}
    for line in (data_dir / "items.jsonl").open(encoding="utf-8"):
        rec = json.loads(line)
        if rec["skill"] not in skills or (limit is not None and per.get(rec["skill"], 0) >= limit):
            continue
        per[rec["skill"]] = per.get(rec["skill"], 0) + 1
        cands = [str(n) for n in range(MAX_COUNT + 1)] if rec["skill"] == "count" else rec["choices"]
        question = report_question(rec["question"])
        out.append(Probe(rec["id"], rec["skill"], data_dir / rec["image"], question, cands, cands.index(rec["answer"]),
                         rec["caption"]))
    return out


def candidate_logprobs(model, processor, image: Image.Image | None, question: str, candidates: list[str]) -> list[float]:
    """Summed log-probability of each candidate as the whole assistant answer (up to <|im_end|>).
    The prompt (and its image) runs once, the candidates attend to it as the trainer's shared-prompt
    rows do (mmrl.models.shared_prompt), instead of one copy of image and question per candidate.
    image None: a text-only question."""
    import torch

    from ..models.backbone import encode_prompt
    from ..models.logprobs import packed_logprobs
    from ..models.shared_prompt import pack_prompts

    images = [image] if image is not None else []
    content = [{"type": "image"}] * len(images) + [{"type": "text", "text": question}]
    prompt = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                           tokenize=False)
    tokenizer = getattr(processor, "tokenizer", processor)
    head = tokenizer(prompt)["input_ids"]
    answers = []
    for cand in candidates:  # the answer's tokens as the whole sequence tokenizes them (no image expansion needed)
        ids = tokenizer(prompt + cand + "<|im_end|>")["input_ids"]
        if ids[:len(head)] != head:
            raise ValueError(f"candidate {cand!r} changes how the prompt tokenizes")
        answers.append(ids[len(head):])
    packed = pack_prompts([encode_prompt(processor, prompt, images)], [list(enumerate(answers))],
                          tokenizer.pad_token_id)
    with torch.no_grad():
        logprobs = packed_logprobs(model, packed, (len(answers), max(map(len, answers))))
    return [float(logprobs[j, :len(a)].sum()) for j, a in enumerate(answers)]


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def readings(probe: Probe, other: Probe) -> dict[str, tuple[Image.Image | None, str]]:
    """{reading: (image or None, user text)} for the readings of one probe; `other`: the item of the
    same skill whose image is the swapped one."""
    real = _rgb(probe.image)
    return {"real": (real, probe.question), "blank": (Image.new("RGB", real.size, (255, 255, 255)), probe.question),
            "swapped": (_rgb(other.image), probe.question),
            "caption": (None, f"Image description: {probe.caption}\n\n{probe.question}")}


def swaps(items: list[Probe]) -> list[Probe]:
    """For each probe, the next probe of its skill (cyclically): whose image its swapped reading shows."""
    by_skill: dict[str, list[int]] = {}
    for i, p in enumerate(items):
        by_skill.setdefault(p.skill, []).append(i)
    other = list(items)
    for idx in by_skill.values():
        for k, i in enumerate(idx):
            other[i] = items[idx[(k + 1) % len(idx)]]
    return other


def run(model, processor, items: list[Probe], progress=None) -> dict[str, dict[str, float]]:
    """{skill: {"n", "chance", *READINGS}} accuracies in percent."""
    tally: dict[str, dict[str, float]] = {}
    for probe, other in zip(items, swaps(items)):
        t = tally.setdefault(probe.skill, {"n": 0, "chance": 0.0, **dict.fromkeys(READINGS, 0.0)})
        t["n"] += 1
        t["chance"] += 100 / len(probe.candidates)
        for key, (image, text) in readings(probe, other).items():
            scores = candidate_logprobs(model, processor, image, text, probe.statements)
            t[key] += 100 * (max(range(len(scores)), key=scores.__getitem__) == probe.gold)
        if progress:
            progress()
    return {s: {k: (v if k == "n" else v / t["n"]) for k, v in t.items()}
            for s, t in sorted(tally.items(), key=lambda kv: SKILLS.index(kv[0]))}


def markdown(result: dict[str, dict[str, float]]) -> str:
    rows = ["| skill | n | real image % | blank image % | sees (real - blank) | swapped image % | sees (real - swapped) "
            "| caption as text % (ceiling) | chance % |", "|---|---|---|---|---|---|---|---|---|"]
    rows += [f"| {s} | {r['n']} | {r['real']:.1f} | {r['blank']:.1f} | {r['real'] - r['blank']:+.1f} | "
             f"{r['swapped']:.1f} | {r['real'] - r['swapped']:+.1f} | {r['caption']:.1f} | {r['chance']:.1f} |"
             for s, r in result.items()]
    return "\n".join(rows)
