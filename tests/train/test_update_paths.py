"""The update phase on a tiny random Llama (our logic only; DeepSpeed is replaced by a plain SGD
wrapper with the four engine calls the update makes):
- the on-policy shortcut (old log-probs taken from the training forward) gives the same loss and
  the same gradient as the separate no-grad pass, to 1e-5;
- the shared-prompt forward gives the unshared forward's loss, gradient and metrics, to 1e-5;
- leaving out the rows whose advantage is 0 gives the dense gradient, for every registered method;
- a method defined here, declaring a trainer input, receives it without any trainer change;
- an input nobody can supply is refused when the update is built."""
import copy
from types import SimpleNamespace

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mmrl.algorithms import ALGORITHMS, Algorithm, build_algorithm, register
from mmrl.train.records import Group, Response
from mmrl.train.timer import Timer
from mmrl.train.update import Models, Updater


class PlainEngine:
    def __init__(self, module, lr=0.0):
        self.module, self.boundary, self.grads = module, True, None
        self.opt = torch.optim.SGD(module.parameters(), lr=lr)

    def set_gradient_accumulation_boundary(self, boundary):
        self.boundary = boundary

    def backward(self, loss):
        loss.backward()

    def step(self):
        if self.boundary:
            self.grads = [p.grad.detach().clone() for p in self.module.parameters()]
            self.opt.step()
            self.opt.zero_grad()


def tiny_model():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(cfg).eval()


def groups(model, n_groups=3, n=4):
    """Groups sampled from the model itself, so rollout log-probs are on-policy."""
    g = torch.Generator().manual_seed(3)
    out = []
    for k in range(n_groups):
        prompt = torch.randint(1, 50, (1, 3 + k), generator=g)
        group = Group(k, {}, {"input_ids": prompt, "attention_mask": torch.ones_like(prompt)})
        for i in range(n):
            length = 2 + (i + k) % 4
            tokens = torch.randint(1, 50, (length,), generator=g).tolist()
            group.responses.append(Response(tokens, [0.0] * length, "", "stop", reward=float((i + k) % 2),
                                            accuracy=float((i + k) % 2)))
        out.append(group)
    return out


def training(**kw):
    return SimpleNamespace(**{"ppo_epochs": 1, "mini_batches": 1, "micro_batch_tokens": 16, "reuse_logprobs": True,
                               "share_prompt": True, "skip_zero_advantage": True, **kw})


@pytest.mark.parametrize("name,params", [("grpo", {"beta": 0.0}), ("dapo", {}), ("gspo", {}), ("cispo", {})])
def test_on_policy_reuse_gives_the_same_loss_and_gradient(name, params):
    if name not in ALGORITHMS:
        pytest.skip(f"{name} not registered")
    model = tiny_model()
    results = []
    for reuse in (True, False):
        engine = PlainEngine(copy.deepcopy(model))
        algo = build_algorithm(name, max_new_tokens=8, **params)
        updater = Updater(Models(engine, None), algo, training(reuse_logprobs=reuse), 1.0, 0)
        assert updater.on_policy == reuse
        metrics = updater(groups(model), Timer())
        assert metrics["update/on_policy_reuse"] == int(reuse)
        results.append((metrics, engine.grads))
    (fast, g_fast), (plain, g_plain) = results
    assert fast["loss"] == pytest.approx(plain["loss"], abs=1e-5)
    for a, b in zip(g_fast, g_plain):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("budget", [16, 40, 4096])  # groups split over micro-batches, packed whole, one micro-batch
@pytest.mark.parametrize("name,params,reuse", [("grpo", {"beta": 0.0}, True), ("dapo", {}, False),
                                               ("gspo", {}, True), ("grpo", {"beta": 0.04}, False)])
def test_shared_prompt_gives_the_unshared_loss_and_gradient(name, params, reuse, budget):
    model = tiny_model()
    results = []
    for share in (True, False):
        engine = PlainEngine(copy.deepcopy(model))
        algo = build_algorithm(name, max_new_tokens=8, **params)
        models = Models(engine, PlainEngine(copy.deepcopy(model)) if "ref_logp" in algo.needs() else None)
        updater = Updater(models, algo, training(reuse_logprobs=reuse, share_prompt=share, micro_batch_tokens=budget),
                          1.0, 0)
        metrics = updater(groups(model), Timer())
        assert metrics["update/shared_prompt"] == int(share)
        results.append((metrics, engine.grads))
    (shared, g_shared), (plain, g_plain) = results
    for key in ("loss", "logprob_gap/mean", "logprob_gap/max"):
        assert shared[key] == pytest.approx(plain[key], abs=1e-5), key
    for a, b in zip(g_shared, g_plain):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def equal_reward_groups(model, equal=(0, 2)):
    """groups(), with the groups in `equal` rewarded alike (0 for group 0, 1 otherwise): under group
    normalisation their advantages are 0."""
    out = groups(model)
    for k in equal:
        for r in out[k].responses:
            r.reward = r.accuracy = float(k > 0)
    return out


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("budget", [16, 4096])
def test_leaving_out_zero_advantage_rows_gives_the_dense_loss_and_gradient(name, budget):
    model = tiny_model()
    results = []
    for skip in (True, False):
        engine = PlainEngine(copy.deepcopy(model))
        algo = build_algorithm(name, max_new_tokens=8, beta=0.0)
        models = Models(engine, PlainEngine(copy.deepcopy(model)) if "ref_logp" in algo.needs() else None)
        updater = Updater(models, algo, training(skip_zero_advantage=skip, micro_batch_tokens=budget), 1.0, 0)
        results.append((updater(equal_reward_groups(model), Timer()), engine.grads, algo))
    (fast, g_fast, algo), (dense, g_dense, _) = results
    assert dense["update/skipped_rows"] == 0
    if name in ("grpo", "dapo", "gspo", "dr_grpo"):
        assert algo.inert_at_zero_advantage and fast["update/skipped_rows"] == pytest.approx(8 / 12)
    if not algo.inert_at_zero_advantage:
        assert fast["update/skipped_rows"] == 0
    for key in ("loss", "pg_loss"):
        assert fast[key] == pytest.approx(dense[key], abs=1e-6), key
    for a, b in zip(g_fast, g_dense):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_with_every_advantage_zero_one_row_still_runs_and_the_optimizer_steps_on_a_zero_gradient():
    model = tiny_model()
    engine = PlainEngine(model)
    metrics = Updater(Models(engine, None), build_algorithm("grpo", beta=0.0), training(), 1.0, 0)(
        equal_reward_groups(model, equal=(0, 1, 2)), Timer())
    assert metrics["update/skipped_rows"] == pytest.approx(11 / 12) and metrics["update/micro_batches"] == 1
    assert engine.grads is not None and all(not g.any() for g in engine.grads)


def test_a_loss_with_a_kl_or_entropy_term_keeps_every_row():
    for params in ({"beta": 0.04}, {"beta": 0.0, "entropy_coef": 0.01}):
        assert not build_algorithm("grpo", **params).inert_at_zero_advantage
    assert not build_algorithm("papo", beta=0.0).inert_at_zero_advantage  # its perception term
    assert build_algorithm("grpo", beta=0.0).inert_at_zero_advantage


def test_a_new_method_declaring_an_input_gets_it_without_trainer_changes():
    seen = []

    @register("throwaway_entropy_probe")
    class Probe(Algorithm):
        def needs(self):
            return super().needs() | {"entropy", "rollout_logp"}

        def extra_loss(self, x, agg):
            seen.append((x.entropy, x.rollout_logp))
            return 0.0, {}

    try:
        model = tiny_model()
        algo = build_algorithm("throwaway_entropy_probe", beta=0.0)
        Updater(Models(PlainEngine(model), None), algo, training(), 1.0, 0)(groups(model), Timer())
        assert seen and all(e is not None and e.requires_grad and r is not None for e, r in seen)
    finally:
        ALGORITHMS.pop("throwaway_entropy_probe")


def test_an_input_nobody_supplies_is_refused_when_the_update_is_built():
    algo = build_algorithm("grpo", beta=0.0)
    algo.needs = lambda: frozenset({"value_head"})
    with pytest.raises(ValueError, match="value_head"):
        Updater(Models(PlainEngine(tiny_model()), None), algo, training(), 1.0, 0)


def test_metrics_merge_by_their_declared_reduction():
    from mmrl.train.update import MetricMerge
    how = {"pg_loss": "sum", "w_min": "min", "w_max": "max"}
    merge = MetricMerge(lambda k: how.get(k, "token_mean"))
    merge({"pg_loss": 0.25, "w_min": 0.9, "w_max": 1.1, "clip": 0.5}, tokens=10)
    merge({"pg_loss": 0.5, "w_min": 0.7, "w_max": 1.3, "clip": 0.0}, tokens=30)
    out = merge.result(optimizer_steps=1)
    assert out == pytest.approx({"pg_loss": 0.75, "w_min": 0.7, "w_max": 1.3, "clip": 0.125})
