"""Gradient properties of the 2026 losses and the rollout correction (algorithms-2026.md), the
declared inputs and metric reductions they add, GDPO as any method's advantage, and a method
defined in a test (registered, then removed from the registry)."""
import math

import pytest
import torch

from mmrl.algorithms import (Algorithm, LossInputs, LossScale, Params, build_algorithm, compute_loss, names, register,
                             unregister)
from mmrl.algorithms.correction import RolloutCorrection
from mmrl.errors import UserError

from test_algo_2026_oracles import ADV, F64, LOGP, MASK, OLD, ROLLOUT  # the spec's §6 fixture


def grad_of(name, logp, old, adv, mask, **kw):
    logp = torch.tensor(logp, **F64, requires_grad=True)
    loss, metrics = compute_loss(name, logp, torch.tensor(old, **F64), torch.tensor(adv, **F64),
                                 torch.tensor(mask, **F64), **kw)
    loss.backward()
    return logp.grad, metrics


def test_cispo_keeps_a_gradient_on_tokens_ppo_clips():
    # token (1,1): r = 1.2214 > 1.2 with A > 0; token (2,3): r = 0.6065 < 0.8 with A < 0
    ppo, m = grad_of("grpo", LOGP, OLD, ADV, MASK, params={"loss_agg_mode": "token-mean"})
    assert ppo[0, 0] == 0 and ppo[1, 2] == 0 and m["clip_frac_high"] > 0 and m["clip_frac_low"] > 0
    cispo, m = grad_of("cispo", LOGP, OLD, ADV, MASK)
    assert cispo[0, 0] == pytest.approx(-math.exp(0.2) * 1.5 / 7)     # -w A / N_tok, w = r under the cap 5
    assert cispo[1, 2] == pytest.approx(math.exp(-0.5) * 0.8 / 7)     # no lower bound: w = r
    assert m["is_clip_frac"] == 0
    capped, m = grad_of("cispo", LOGP, OLD, ADV, MASK, params={"is_clip_high": 1.2})
    assert capped[0, 0] == pytest.approx(-1.2 * 1.5 / 7) and m["is_clip_frac"] == pytest.approx(2 / 7)


@pytest.mark.parametrize("outlier", [2.0, 5.0, 10.0])
def test_gmpo_gradient_is_bounded_under_an_outlier_token_ratio(outlier):
    """One token of a 16-token negative-advantage response has log-ratio `outlier` (PPO does not
    clip r > 1 when A < 0). GRPO's token-mean gradient there is A r / N ~ e^outlier; GMPO's is
    A exp(mean d) / n ~ e^(outlier/16)."""
    n = 16
    old = [[-1.0] * n]
    logp = [[-1.0 + outlier] + [-1.0] * (n - 1)]
    grpo, _ = grad_of("grpo", logp, old, [-1.0], [[1] * n], params={"loss_agg_mode": "token-mean"})
    gmpo, _ = grad_of("gmpo", logp, old, [-1.0], [[1] * n])
    assert float(grpo.abs().max()) == pytest.approx(math.exp(outlier) / n)
    assert float(gmpo.abs().max()) == pytest.approx(math.exp(outlier / n) / n)
    assert float(gmpo.abs().max()) < math.e / n                 # bounded for any |d| <= n
    if outlier >= 5:
        assert float(grpo.abs().max()) > 50 * float(gmpo.abs().max())


def on_policy(name="grpo", correction=None, mode="token-mean", rows=None):
    """Ratio 1 (logp = old_logp): no PPO clip binds, so every token's GRPO gradient is -A w / denominator."""
    logp = torch.tensor(OLD, **F64, requires_grad=True)
    algo = build_algorithm(name, correction=correction, beta=0.0, loss_agg_mode=mode)
    mask = torch.tensor(MASK, **F64)
    adv = torch.tensor(ADV, **F64)[:, None] * mask
    x = LossInputs(logp, torch.tensor(OLD, **F64), adv, mask, rollout_logp=torch.tensor(ROLLOUT, **F64))
    scale = algo.loss_scale(mask, x.old_logp, x.rollout_logp)
    loss, metrics = algo.loss(x, scale)
    loss.backward()
    return logp.grad, metrics, scale


def test_icepop_zeroes_out_of_band_tokens_without_changing_the_denominator():
    base, _, _ = on_policy()
    icepop, m, scale = on_policy(correction={"mode": "token_mis", "clip_min": 0.5, "clip_max": 2.0})
    rho = (torch.tensor(OLD, **F64) - torch.tensor(ROLLOUT, **F64)).exp()
    assert scale.tokens == 7                               # all valid tokens still count
    assert icepop[1, 2] == 0 and base[1, 2] != 0           # rho = 2.0138 is out of [0.5, 2]
    keep = torch.tensor(MASK, dtype=torch.bool)
    keep[1, 2] = False
    assert torch.allclose(icepop[keep], (rho * base)[keep], atol=1e-12, rtol=0)   # same 1/7, times rho_t
    assert m["rollout_masked_frac"] == pytest.approx(1 / 7) and m["rollout_is_min"] == 0
    assert m["rollout_is_max"] == pytest.approx(math.exp(0.05))


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean"])
def test_seq_geo_rs_removes_whole_sequences_from_the_denominator(mode):
    base, _, _ = on_policy(mode=mode)
    rs, m, scale = on_policy(correction={"mode": "seq_geo_rs"}, mode=mode)   # rho_geo 1.2419 of seq 2: rejected
    assert (scale.tokens, scale.seqs) == (4, 1)
    assert (rs[1] == 0).all() and (base[1] != 0).any()
    factor = 7 / 4 if mode == "token-mean" else 2 / 1     # the kept sequence's share grows accordingly
    assert torch.allclose(rs[0], base[0] * factor, atol=1e-12, rtol=0)
    assert m["rollout_masked_frac"] == pytest.approx(3 / 7)


def test_mask_editing_correction_refuses_a_scale_that_counts_rejected_sequences():
    algo = build_algorithm("grpo", correction={"mode": "seq_geo_rs"}, beta=0.0)
    mask = torch.tensor(MASK, **F64)
    x = LossInputs(torch.tensor(LOGP, **F64), torch.tensor(OLD, **F64), mask, mask,
                   rollout_logp=torch.tensor(ROLLOUT, **F64))
    with pytest.raises(ValueError, match="algo.loss_scale"):
        algo.loss(x, LossScale.of(mask))
    with pytest.raises(ValueError, match="pass the mini-batch's old_logp and rollout_logp"):
        algo.loss_scale(mask)
    assert {"rollout_logp", "old_logp"} <= algo.needs()


def test_correction_weights_only_the_policy_term():
    """All weights 0 (band below every ratio): what is left is exactly the KL term."""
    logp = torch.tensor(LOGP, **F64, requires_grad=True)
    ref = torch.tensor(OLD, **F64) - 0.3
    loss, m = compute_loss("grpo", logp, torch.tensor(OLD, **F64), torch.tensor(ADV, **F64), torch.tensor(MASK, **F64),
                           rollout_logp=torch.tensor(ROLLOUT, **F64), ref_logp=ref, params={"beta": 0.5},
                           correction={"mode": "seq_mis", "clip_max": 0.1})
    assert m["pg_loss"] == 0 and m["rollout_masked_frac"] == 1
    assert float(loss.detach()) == pytest.approx(0.5 * m["kl"], abs=1e-12)


def test_declared_inputs():
    assert build_algorithm("grpo", beta=0).needs() == frozenset()
    assert build_algorithm("sapo", correction={"mode": "seq_mis"}).needs() == {"rollout_logp"}
    assert build_algorithm("gdpo").needs() == {"reward_parts"}
    assert "reward_parts" in build_algorithm("cispo", advantage="gdpo").needs()
    algo = build_algorithm("cispo", correction=RolloutCorrection(mode="token_tis"))
    mask = torch.ones(1, 2)
    with pytest.raises(ValueError, match="pass rollout_logp"):
        algo.loss(LossInputs(torch.zeros(1, 2), torch.zeros(1, 2), mask, mask))


@pytest.mark.parametrize("given, expected", [
    ({}, ("none", None, None, None)),
    ({"mode": "token_tis"}, ("token_tis", None, 2.0, None)),
    ({"mode": "seq_tis"}, ("seq_tis", None, 2.0, None)),
    ({"mode": "token_mis"}, ("token_mis", 0.5, 5.0, None)),
    ({"mode": "seq_mis"}, ("seq_mis", None, 3.0, None)),
    ({"mode": "seq_geo_rs"}, ("seq_geo_rs", None, None, (0.999, 1.001))),
    ({"mode": "token_mis", "clip_max": None}, ("token_mis", 0.5, None, None)),
])
def test_correction_defaults_per_mode(given, expected):
    c = RolloutCorrection(**given)
    assert (c.mode, c.clip_min, c.clip_max, c.geo_band) == expected


def merge(algo, per_micro, tokens):
    """The trainer's documented merge of micro-batch metrics (inputs.Reduce)."""
    out = {}
    for key in per_micro[0]:
        values = [m[key] for m in per_micro]
        how = algo.reduction(key)
        out[key] = {"sum": sum(values), "min": min(values), "max": max(values),
                    "token_mean": sum(v * t for v, t in zip(values, tokens)) / sum(tokens)}[how]
    return out


@pytest.mark.parametrize("name, correction", [("gmpo", {"mode": "token_tis"}), ("cispo", {"mode": "token_mis"}),
                                              ("sapo", {"mode": "seq_geo_rs"}), ("grpo", {"mode": "seq_mis"})])
def test_declared_reductions_merge_micro_batch_metrics_into_the_mini_batch_value(name, correction):
    algo = build_algorithm(name, correction=correction, beta=0.0)
    mask = torch.tensor(MASK, **F64)
    x = LossInputs(torch.tensor(LOGP, **F64), torch.tensor(OLD, **F64), torch.tensor(ADV, **F64)[:, None] * mask,
                   mask, rollout_logp=torch.tensor(ROLLOUT, **F64))
    scale = algo.loss_scale(mask, x.old_logp, x.rollout_logp)
    _, whole = algo.loss(x, scale)
    micro = [algo.loss(x.rows(slice(i, i + 1)), scale)[1] for i in range(2)]
    merged = merge(algo, micro, [float(mask[i].sum()) for i in range(2)])
    for key in ("pg_loss", "loss", "rollout_is_mean", "rollout_is_min", "rollout_is_max", "rollout_masked_frac",
                "seq_ratio", "is_clip_frac"):
        if key in whole:
            assert merged[key] == pytest.approx(whole[key], abs=1e-9), key
    assert algo.reduction("rollout_is_min") == "min" and algo.reduction("rollout_is_max") == "max"


# ---------------------------------------------------------------- GDPO as any method's advantage

def test_gdpo_is_any_methods_advantage_and_keeps_reward_shaping():
    parts = torch.tensor([[1.0, 1], [0, 1], [1, 0], [0, 1]])
    groups, mask = torch.zeros(4, dtype=torch.long), torch.ones(4, 2)
    ref, _ = build_algorithm("gdpo").advantages(parts.sum(-1), groups, mask, reward_parts=parts)
    rloo, _ = build_algorithm("rloo", advantage="gdpo").advantages(parts.sum(-1), groups, mask, reward_parts=parts)
    assert torch.equal(ref, rloo)
    weighted, _ = build_algorithm("gdpo", reward_weights=[2.0, 1.0]).advantages(parts.sum(-1), groups, mask,
                                                                                 reward_parts=parts)
    assert not torch.allclose(weighted, ref)
    shaped = parts.sum(-1) - torch.tensor([0.0, 0.5, 0.0, 0.0])     # e.g. DAPO's overlong penalty
    _, m = build_algorithm("dapo", advantage="gdpo").advantages(shaped, groups, mask, reward_parts=parts)
    assert m["adv_components"] == 3 and m["adv_shaping_component"] == 1
    with pytest.raises(UserError, match="reward_weights has 3 values but the reward has 2 components"):
        build_algorithm("gdpo", reward_weights=[1, 1, 1]).advantages(parts.sum(-1), groups, mask, reward_parts=parts)
    with pytest.raises(ValueError, match="pass reward_parts"):
        build_algorithm("gdpo").advantages(parts.sum(-1), groups, mask)


def test_gdpo_single_sequence_batch_has_zero_advantage():
    algo = build_algorithm("gdpo")
    adv = algo.gdpo_advantages(torch.tensor([1.0]), torch.zeros(1, dtype=torch.long), torch.tensor([[1.0]]))[0]
    assert adv.tolist() == [0.0]


# ---------------------------------------------------------------- a method defined in a test

class EntropyBonusParams(Params):
    beta: float = 0.0
    bonus: float = 0.5


@pytest.fixture
def throwaway():
    """Registers a method only for this test; the registry is restored whatever happens."""
    @register("test_entropy_bonus")
    class EntropyBonus(Algorithm):
        Params = EntropyBonusParams
        metric_reductions = {"bonus": "sum"}

        def needs(self):
            return super().needs() | {"entropy"}

        def extra_loss(self, x, agg):
            if x.entropy is None:
                raise ValueError("test_entropy_bonus needs entropy")
            bonus = agg(x.entropy.float())
            return -self.params.bonus * bonus, {"bonus": float(bonus.detach())}
    yield EntropyBonus
    unregister("test_entropy_bonus")


def test_a_method_defined_in_a_test_declares_its_input_and_leaves_no_trace(throwaway):
    assert "test_entropy_bonus" in names()
    algo = build_algorithm("test_entropy_bonus")
    assert algo.needs() == {"entropy"} and algo.reduction("bonus") == "sum"
    logp = torch.tensor(OLD, **F64, requires_grad=True)
    entropy = torch.full((2, 4), 2.0, **F64)
    loss, m = compute_loss("test_entropy_bonus", logp, torch.tensor(OLD, **F64), torch.tensor(ADV, **F64),
                           torch.tensor(MASK, **F64), entropy=entropy)
    assert m["bonus"] == pytest.approx(2.0) and float(loss.detach()) == pytest.approx(m["pg_loss"] - 1.0)
    with pytest.raises(ValueError, match="already registered"):
        register("grpo")(throwaway)


def test_the_throwaway_method_is_gone():
    assert "test_entropy_bonus" not in names()


# ---------------------------------------------------------------- micro-batches on uneven rows

@pytest.mark.parametrize("correction", [None, {"mode": "token_tis"}, {"mode": "seq_mis", "clip_max": 1.2},
                                        {"mode": "token_mis", "clip_min": 0.8, "clip_max": 1.25},
                                        {"mode": "seq_geo_rs", "geo_band": [0.9, 1.1]}],
                         ids=lambda c: "none" if c is None else c["mode"])
@pytest.mark.parametrize("name", ["cispo", "sapo", "gmpo", "gdpo"])
def test_uneven_micro_batches_sum_to_the_mini_batch_gradient(name, correction):
    """Rows of different lengths and an empty one, split 1 + 2 + 1, with the mini-batch's
    loss_scale: the summed gradient equals the one-batch gradient (float64, exact to 1e-12)."""
    g = torch.Generator().manual_seed(5)
    mask = torch.tensor([[1.0] * 6, [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0], [0.0] * 6], **F64)
    old = -torch.rand(4, 6, generator=g, **F64) * 2
    rollout = old + 0.15 * torch.randn(4, 6, generator=g, **F64)
    base = old + 0.3 * torch.randn(4, 6, generator=g, **F64)
    adv = torch.tensor([1.2, -0.7, 0.4, 0.9], **F64)[:, None] * mask
    algo = build_algorithm(name, correction=correction, beta=0.0)
    scale = algo.loss_scale(mask, old, rollout)

    def run(rows):
        logp = base.clone().requires_grad_()
        total = 0.0
        for r in rows:
            x = LossInputs(logp[r], old[r], adv[r], mask[r], rollout_logp=rollout[r])
            loss, _ = algo.loss(x, scale)
            loss.backward()
            total += float(loss.detach())
        return total, logp.grad

    whole, g_whole = run([slice(0, 4)])
    split, g_split = run([slice(0, 1), slice(1, 3), slice(3, 4)])
    assert split == pytest.approx(whole, abs=1e-12)
    assert torch.allclose(g_split, g_whole, atol=1e-12, rtol=0) and g_whole.abs().sum() > 0
