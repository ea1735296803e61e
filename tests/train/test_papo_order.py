"""A PAPO step whose batch mixes a text-only sample with image samples, in every order, on both
engines. On the old step a text-only sample before the image samples crashed the update: the
masked-image prompt list was emptied by the text sample, later image samples got no masked prompt
and the batch indexed None. Here the real step pieces run in-process (Rollouts -> Updater) on
smolvl with real Geometry3K diagrams; only DeepSpeed is replaced by a plain SGD wrapper exposing
the four engine calls the update uses (the DeepSpeed path runs in test_train_engines.py)."""
import math

import pytest
import torch

from mmrl.algorithms import build_algorithm
from mmrl.models import load_policy, resolve_model
from mmrl.recipe import load_recipe
from mmrl.rollout import SamplingConfig, build_engine
from mmrl.train.rollouts import Rollouts
from mmrl.train.timer import Timer
from mmrl.train.update import Models, Updater
from train_runs import ROOT
from test_train_engines import geometry_samples

pytestmark = pytest.mark.integration


class PlainEngine:
    """The DeepSpeed engine calls the update makes, on a plain module."""

    def __init__(self, module):
        self.module, self.boundary = module, True
        self.opt = torch.optim.SGD(module.parameters(), lr=1e-6)

    def set_gradient_accumulation_boundary(self, boundary: bool) -> None:
        self.boundary = boundary

    def backward(self, loss) -> None:
        loss.backward()

    def step(self) -> None:
        if self.boundary:
            self.opt.step()
            self.opt.zero_grad()


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    import json
    rows = [json.loads(line) for line in geometry_samples(tmp_path_factory.mktemp("geo")).read_text().splitlines()]
    images = [r for r in rows if r.get("images") and "missing" not in r["images"][0]][:2]
    text = [r for r in rows if not r.get("images")][0]
    return images, text


@pytest.fixture(scope="module", params=["hf", "vllm"])
def step_parts(request):
    recipe = load_recipe(ROOT / "recipes" / "papo.yaml", ["data.generate=null", "data.train=x.jsonl",
                                                         "rollout.n=2", "rollout.max_new_tokens=6"])
    model, processor = load_policy(resolve_model("smolvl"), torch.float32)
    pixels = dict(min_pixels=recipe.backbone.min_pixels, max_pixels=recipe.backbone.max_pixels)
    if request.param == "hf":
        engine = build_engine("hf", resolve_model("smolvl"), model=model, processor=processor, **pixels)
    else:
        engine = build_engine("vllm", resolve_model("smolvl"), dtype="float32", max_model_len=1024, **pixels)
    from mmrl_verifiers import VerifierPool
    pool = VerifierPool(workers=1, preload=("math", "mcq"))
    yield recipe, model, processor, engine, pool
    pool.close()
    engine.close()


@pytest.mark.parametrize("text_at", [0, 1, 2])
def test_papo_step_with_a_text_only_sample_anywhere(step_parts, samples, text_at):
    recipe, model, processor, engine, pool = step_parts
    images, text = samples
    order = list(images)
    order.insert(text_at, text)
    algo = build_algorithm("papo", max_new_tokens=6, beta=0.0)
    sampling = SamplingConfig(n=2, temperature=1.0, max_new_tokens=6)
    rollouts = Rollouts(engine, pool, processor, recipe, order, ROOT, "test", sampling, Timer(), algo.mask_image, 7)
    groups = rollouts.groups([0, 1, 2])
    assert [g.has_image for g in groups] == [i != text_at for i in range(3)]
    # every image prompt has its masked copy, the text prompt has none (nothing to mask)
    assert [g.masked_prompt is not None for g in groups] == [g.has_image for g in groups]
    for g in groups:
        if g.masked_prompt is not None:
            assert torch.equal(g.masked_prompt["input_ids"], g.prompt["input_ids"])
            assert not torch.equal(g.masked_prompt["pixel_values"], g.prompt["pixel_values"])
    for g in groups:
        g.responses = g.judged
    metrics = Updater(Models(PlainEngine(model), None), algo, recipe.training, 1.0,
                      processor.tokenizer.pad_token_id or 0)([g for g in groups if g.responses], Timer())
    assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))
    assert metrics["kl_prcp"] != 0  # the masked forward ran on the image rows

