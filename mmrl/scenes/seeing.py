"""Does the model see? Per skill, accuracy on held-out scenes with the real image and with a blank
(white) image of the same size; the difference is what the model reads from the pixels.

An answer is the candidate with the highest log-likelihood after the question (the colour names, the
shape names, counts 0-5, ...), not a generated text: a 135M model's free-form answers would measure its
instruction following, not its seeing. The question is the item's first line, without the RL answer
format (letters, \\boxed{}), the same for real and blank images."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .items import MAX_COUNT

SKILLS = ("colour", "shape", "count", "position", "size", "word")


@dataclass
class Probe:
    id: str
    skill: str
    image: Path
    question: str
    candidates: list[str]
    gold: int


def probes(data_dir: Path, limit: int | None = None) -> list[Probe]:
    """The ranked-answer probes of a scenes folder (items.jsonl), at most `limit` per skill."""
    out, per = [], {}
    for line in (data_dir / "items.jsonl").open(encoding="utf-8"):
        rec = json.loads(line)
        if rec["skill"] not in SKILLS or (limit is not None and per.get(rec["skill"], 0) >= limit):
            continue
        per[rec["skill"]] = per.get(rec["skill"], 0) + 1
        cands = [str(n) for n in range(MAX_COUNT + 1)] if rec["skill"] == "count" else rec["choices"]
        question = rec["question"].split("\n")[0].split(" Put the")[0]
        out.append(Probe(rec["id"], rec["skill"], data_dir / rec["image"], question, cands, cands.index(rec["answer"])))
    return out


def candidate_logprobs(model, processor, image: Image.Image, question: str, candidates: list[str]) -> list[float]:
    """Summed log-probability of each candidate as the whole assistant answer (up to <|im_end|>);
    all candidates in one right-padded batch."""
    import torch

    from ..models.backbone import encode_prompt

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    n_prompt = encode_prompt(processor, prompt, [image])["input_ids"].shape[1]
    encs = [encode_prompt(processor, prompt + cand + "<|im_end|>", [image]) for cand in candidates]
    width = max(e["input_ids"].shape[1] for e in encs)
    pad = lambda t, v: torch.cat([t[0], t.new_full((width - t.shape[1],), v)])  # noqa: E731
    batch = {"input_ids": torch.stack([pad(e["input_ids"], processor.tokenizer.pad_token_id) for e in encs]),
             "attention_mask": torch.stack([pad(e["attention_mask"], 0) for e in encs]),
             "pixel_values": torch.cat([e["pixel_values"] for e in encs]),
             "image_grid_thw": torch.cat([e["image_grid_thw"] for e in encs])}
    if "mm_token_type_ids" in encs[0]:
        batch["mm_token_type_ids"] = torch.stack([pad(e["mm_token_type_ids"], 0) for e in encs])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(**batch).logits.float(), -1)
    scores = []
    for row, e in enumerate(encs):
        target = e["input_ids"][0, n_prompt:]
        picked = logprobs[row, n_prompt - 1:e["input_ids"].shape[1] - 1].gather(1, target[:, None])
        scores.append(float(picked.sum()))
    return scores


def run(model, processor, items: list[Probe], progress=None) -> dict[str, dict[str, float]]:
    """{skill: {"n", "real", "blank", "chance"}} accuracies in percent."""
    tally: dict[str, dict[str, float]] = {}
    for probe in items:
        with Image.open(probe.image) as im:
            real = im.convert("RGB")
        blank = Image.new("RGB", real.size, (255, 255, 255))
        t = tally.setdefault(probe.skill, {"n": 0, "real": 0, "blank": 0, "chance": 0.0})
        t["n"] += 1
        t["chance"] += 100 / len(probe.candidates)
        for key, image in (("real", real), ("blank", blank)):
            scores = candidate_logprobs(model, processor, image, probe.question, probe.candidates)
            t[key] += 100 * (max(range(len(scores)), key=scores.__getitem__) == probe.gold)
        if progress:
            progress()
    return {s: {"n": t["n"], "real": t["real"] / t["n"], "blank": t["blank"] / t["n"], "chance": t["chance"] / t["n"]}
            for s, t in sorted(tally.items(), key=lambda kv: SKILLS.index(kv[0]))}


def markdown(result: dict[str, dict[str, float]]) -> str:
    rows = ["| skill | n | real image % | blank image % | sees (real - blank) | chance % |", "|---|---|---|---|---|---|"]
    rows += [f"| {s} | {r['n']} | {r['real']:.1f} | {r['blank']:.1f} | {r['real'] - r['blank']:+.1f} | {r['chance']:.1f} |"
             for s, r in result.items()]
    return "\n".join(rows)
