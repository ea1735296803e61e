"""Zoom images in training (issue #17): a response whose tool turn shows a zoomed crop is scored by
the trainer's own path (Rollouts -> Batch -> Updater, fp32 smolvl) on the images the rollout engine
saw. On both engines, after a training step and a weight sync, the rollout-vs-trainer gap of every
policy turn, the turn after the zoom image included, is within the single-turn tolerance; another
image in the crop's place opens the gap on the turn after it (before this, training refused zoom). Tool tokens (the image pads too) are outside
the policy mask, and a batch mixing zoomed, unzoomed and text-only responses trains a step.

The call is forced by a prefill: the prompt holds the call but its last character, the policy
writes the ">" that closes it (SmolLM2 does, at T=1), so turn 1 is one real policy token."""
import math
import sys
from pathlib import Path

import pytest
import torch
from PIL import ImageOps

import mmrl.data
from mmrl.algorithms import build_algorithm
from mmrl.models import load_policy, resolve_model
from mmrl.models.backbone import image_inputs
from mmrl.recipe import load_recipe
from mmrl.rollout import SamplingConfig, build_engine
from mmrl.train.batch import Batch
from mmrl.train.rollouts import Rollouts
from mmrl.train.timer import Timer
from mmrl.train.update import Models, Updater
from test_papo_order import PlainEngine
from train_runs import ROOT

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from rollout_checks import DATA, GAP_MAX_TOL, GAP_MEAN_TOL  # noqa: E402  the single-turn tolerance

CALL = '<tool_call>{"name": "zoom", "arguments": {"box": [0, 0, 64, 64]}}</tool_call'
TOOLS = ["tools.enabled=[zoom]", "tools.max_turns=2", "tools.options.zoom.target_pixels=3136",
         "tools.options.zoom.max_scale=1"]  # a 64x64 crop: 4 image tokens


def samples():
    diagram = str(DATA / "geometry3k" / "data_examples" / "{}" / "img_diagram.png")
    return [{"question": "What is x?", "answer": "A", "choices": ["1", "2"], "verifier": "mcq",
             "images": [diagram.format(11)], "prefill": CALL},            # zooms
            {"question": "What is x?", "answer": "B", "choices": ["1", "2"], "verifier": "mcq",
             "images": [diagram.format(12)]},                              # may zoom, rarely does
            {"question": "What is 3 + 4?", "answer": "7", "verifier": "math"}]  # text only


def test_rows_without_tool_images_are_unchanged_and_tool_images_follow_their_prompts():
    from mmrl.models import sequence_batch

    def prompt(n, image):  # a VLM prompt of n tokens, one image of 2 pads at positions 1-2
        return {"input_ids": torch.arange(10, 10 + n)[None], "attention_mask": torch.ones(1, n, dtype=torch.long),
                "mm_token_type_ids": torch.tensor([[0, 1, 1] + [0] * (n - 3)]),
                "pixel_values": torch.full((8, 3), float(image)), "image_grid_thw": torch.tensor([[1, 2, 4]])}

    prompts, completions = [prompt(5, 0), prompt(4, 1), prompt(5, 2)], [[1, 2], [3, 7, 7, 4], [5]]
    crop = {"pixel_values": torch.full((8, 3), 9.0), "image_grid_thw": torch.tensor([[1, 4, 2]]),
            "mm_token_type_ids": torch.tensor([[0, 1, 1, 0]])}
    old = sequence_batch(prompts, completions, 0)
    assert all(torch.equal(a, b) for a, b in zip(old.values(), sequence_batch(prompts, completions, 0, None,
                                                                              [None] * 3).values())
               if isinstance(a, torch.Tensor))
    new = sequence_batch(prompts, completions, 0, None, [None, crop, None])
    for k in ("input_ids", "attention_mask", "completion_mask"):
        assert torch.equal(new[k], old[k])
    types = new["mm_inputs"]["mm_token_type_ids"]
    assert torch.equal(types[[0, 2]], old["mm_inputs"]["mm_token_type_ids"][[0, 2]])
    assert types[1].tolist() == [0, 1, 1, 0, 0, 1, 1, 0]  # the crop's pads typed as image after the prompt's
    assert new["mm_inputs"]["pixel_values"][:, 0].tolist() == [0] * 8 + [1] * 8 + [9] * 8 + [2] * 8
    assert new["mm_inputs"]["image_grid_thw"].tolist() == [[1, 2, 4], [1, 2, 4], [1, 4, 2], [1, 2, 4]]


@pytest.fixture(scope="module", params=["hf", "vllm"])
def run(request, tmp_path_factory):
    """One rollout, one PAPO step on it (the masked forward too), a weight sync, a second rollout:
    (the step's metrics, the second rollout's groups, the updater, the model, the processor, pixels)."""
    recipe = load_recipe(ROOT / "recipes" / "papo.yaml", ["data.generate=null", "data.train=x.jsonl", *TOOLS])
    model, processor = load_policy(resolve_model("smolvl"), torch.float32)
    pixels = dict(min_pixels=recipe.backbone.min_pixels, max_pixels=recipe.backbone.max_pixels)
    if request.param == "hf":
        engine = build_engine("hf", resolve_model("smolvl"), model=model, processor=processor, **pixels)
    else:
        engine = build_engine("vllm", resolve_model("smolvl"), dtype="float32", max_model_len=1024, max_images=2,
                              **pixels)  # the prompt's image and the crop
    from mmrl_verifiers import VerifierPool
    pool = VerifierPool(workers=1, preload=("math", "mcq"))
    algo = build_algorithm("papo", max_new_tokens=80, beta=0.0)
    plain = PlainEngine(model)
    plain.opt.param_groups[0]["lr"] = 1e-3  # a step that moves the weights, so the sync matters
    updater = Updater(Models(plain, None), algo, recipe.training, 1.0, processor.tokenizer.pad_token_id or 0)
    chat_prompt = mmrl.data.chat_prompt
    patch = pytest.MonkeyPatch()
    patch.setattr(mmrl.data, "chat_prompt", lambda p, s, d, n: chat_prompt(p, s, d, n) + s.get("prefill", ""))
    try:
        def rollout(seed):
            sampling = SamplingConfig(n=2, temperature=1.0, max_new_tokens=80, seed=seed)
            rollouts = Rollouts(engine, pool, processor, recipe, samples(), ROOT, "test", sampling, Timer(),
                                algo.mask_image, seed)
            return rollouts.groups([0, 1, 2])

        first = rollout(3)
        for g in first:
            g.responses = g.judged
        metrics = updater([g for g in first if g.responses], Timer())
        engine.sync_weights(model.named_parameters())
        yield metrics, first, rollout(4), updater, model, processor, pixels
    finally:
        patch.undo()
        pool.close()
        engine.close()


def trainer_logprobs(updater, model, groups) -> tuple[Batch, torch.Tensor]:
    batch = Batch(groups, updater.pad_id)
    return batch, updater.no_grad_logprobs(model, batch)  # the trainer's forward (old log-probs, fp32)


def turn_gaps(response, trainer_row) -> list[float]:
    """max |trainer - rollout| per policy turn (a run of policy_mask 1)."""
    gaps, start = [], None
    for t, m in enumerate(list(response.policy_mask) + [0]):
        if m and start is None:
            start = t
        elif not m and start is not None:
            gaps.append(max(abs(float(trainer_row[k]) - response.rollout_logp[k]) for k in range(start, t)))
            start = None
    return gaps


def zoomed(groups):
    return [r for g in groups for r in g.responses if r.images]


@pytest.mark.integration
def test_a_mixed_batch_trains_one_step(run):
    metrics, first, *_ = run
    kinds = {(bool(r.images), g.has_image) for g in first for r in g.responses}
    assert {(True, True), (False, False)} <= kinds, kinds  # zoomed and text-only responses in one batch
    assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))
    assert metrics["update/shared_prompt"] == 0 and metrics["kl_prcp"] != 0  # unshared rows; masked forward ran


@pytest.mark.integration
def test_tool_tokens_and_the_zoom_image_pads_are_outside_the_policy_mask(run):
    _, _, groups, _, _, processor, _ = run
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    batch = Batch(groups, 0)
    mask = batch.response_mask()
    for i, (_, r) in enumerate(batch.rows):
        if not r.images:
            continue
        assert r.turns == 2 and r.tool_calls == 1 and r.tool_errors == 0
        pads = [m for t, m in zip(r.tokens, r.policy_mask) if t == pad]
        assert len(pads) == int((r.image_inputs["image_grid_thw"].prod(-1) // 4).sum()) > 0 and not any(pads)
        assert mask[i, :len(r.tokens)].tolist() == [float(m) for m in r.policy_mask]
        tool = processor.tokenizer.decode([t for t, m in zip(r.tokens, r.policy_mask) if not m])
        assert "zoom of box [0, 0, 64, 64]" in tool and "zoom of box" not in r.text


@pytest.mark.integration
def test_every_turn_matches_the_rollout_after_sync_and_a_wrong_image_does_not(run):
    _, _, groups, updater, model, processor, pixels = run
    responses = zoomed(groups)
    assert len(responses) == 2  # both samples of the prefilled prompt zoomed
    batch, trainer = trainer_logprobs(updater, model, groups)
    mask = batch.response_mask().bool()
    diff = (trainer - batch.rollout_logprobs())[mask].abs()
    assert diff.mean() < GAP_MEAN_TOL and diff.max() < GAP_MAX_TOL, (diff.mean(), diff.max())
    rows = {id(r): i for i, (_, r) in enumerate(batch.rows)}
    right = [turn_gaps(r, trainer[rows[id(r)]]) for r in responses]
    assert all(len(g) == 2 and max(g) < GAP_MAX_TOL for g in right), right  # turn 1 and the turn after the crop

    # the same responses shown another image of the crop's size (its colours inverted) in its place
    kept = [r.image_inputs for r in responses]
    try:
        for r in responses:
            r.image_inputs = image_inputs(processor, r.tokens, [ImageOps.invert(im) for im in r.images],
                                          pixels["min_pixels"], pixels["max_pixels"])
        _, bad = trainer_logprobs(updater, model, groups)
    finally:
        for r, x in zip(responses, kept):
            r.image_inputs = x
    wrong = [turn_gaps(r, bad[rows[id(r)]]) for r in responses]
    print(f"per-turn gap max: the crop {right}, another image {wrong}")
    assert all(g[0] == pytest.approx(ok[0], abs=1e-6) for g, ok in zip(wrong, right))  # turn 1: before the image
    assert max(g[1] for g in wrong) > 10 * GAP_MAX_TOL, wrong  # the turn after it
