"""Every numeric oracle of algorithms.md §15 (except 15.12 AEPO reward, 15.14 DUMP, 15.15 CLPO,
which belong to the vision verifier and the curricula), asserted to 1e-6."""
import math
import random

import numpy as np
import pytest
import torch
from PIL import Image

from mmrl.algorithms import build_algorithm
from mmrl.algorithms.core import agg_loss, kl_penalty, ppo_clip
from mmrl.algorithms.dcpo import dynamic_bounds, sas
from mmrl.algorithms.papo import random_patch_blackening
from mmrl.algorithms import LossInputs

TOL = 1e-6


def seq_adv(name, rewards, groups=None, **params):
    """Per-response advantages of one or more groups (one token per response)."""
    r = torch.tensor(rewards, dtype=torch.float64)
    g = torch.tensor(groups if groups is not None else [0] * len(rewards))
    adv, _ = build_algorithm(name, **params).advantages(r, g, torch.ones(len(rewards), 1))
    return adv[:, 0].tolist()


def close(actual, expected, tol=TOL):
    assert np.allclose(actual, expected, atol=tol, rtol=0), (actual, expected)


# ---------------------------------------------------------------- 15.1 / 15.2 advantages

@pytest.mark.parametrize("rewards, ddof1, ddof0", [
    ([1, 0, 0, 0], [1.499997, -0.499999, -0.499999, -0.499999], [1.7320468] + [-0.5773489] * 3),
    ([1, 1, 0, 0], [0.8660239, 0.8660239, -0.8660239, -0.8660239], [0.999998, 0.999998, -0.999998, -0.999998]),
    ([1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]),
    ([0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]),
    ([0.5, 1.0, 0.0, 0.9], [-0.2199702, 0.8798808, -1.3198211, 0.6599106], None),
])
def test_grpo_advantages(rewards, ddof1, ddof0):
    close(seq_adv("grpo", rewards), ddof1)
    if ddof0 is not None:
        close(seq_adv("grpo", rewards, std_ddof=0), ddof0)


def test_grpo_token_broadcast():
    algo = build_algorithm("grpo")
    mask = torch.tensor([[1.0, 1, 0], [1, 0, 0]])
    adv = algo.token_advantages(torch.tensor([1.5, -0.5], dtype=torch.float64), mask, None, None)
    assert adv.tolist() == [[1.5, 1.5, 0], [-0.5, 0, 0]]


@pytest.mark.parametrize("rewards, expected", [
    ([1, 0, 0, 0], [0.75, -0.25, -0.25, -0.25]),
    ([0.5, 1.0, 0.0, 0.9], [-0.1, 0.4, -0.6, 0.3]),
    ([1, 1, 1, 1], [0, 0, 0, 0]),
])
def test_dr_grpo_advantages(rewards, expected):
    close(seq_adv("dr_grpo", rewards, norm_length=16), expected)


# ---------------------------------------------------------------- 15.3 PPO clip through the losses

def one_token_loss(algo, adv, ratio):
    """Loss of a single token with advantage `adv` and importance ratio `ratio`."""
    old = torch.tensor([[-1.0]])
    logp = old + math.log(ratio)
    loss, _ = algo.loss(LossInputs(logp, old, torch.tensor([[float(adv)]]), torch.ones(1, 1)))
    return float(loss)


@pytest.mark.parametrize("adv, ratio, grpo, dapo, dual", [
    (1, 1.5, -1.2, -1.28, -1.2), (1, 0.5, -0.5, -0.5, -0.5), (-1, 0.5, 0.8, 0.8, 0.8),
    (-1, 1.5, 1.5, 1.5, 1.5), (-1, 4.0, 4.0, 4.0, 3.0), (1, 1.1, -1.1, -1.1, -1.1), (2, 1.3, -2.4, -2.56, -2.4),
])
def test_ppo_clip_table(adv, ratio, grpo, dapo, dual):
    close(one_token_loss(build_algorithm("grpo", beta=0), adv, ratio), grpo)
    close(one_token_loss(build_algorithm("dapo"), adv, ratio), dapo)
    close(one_token_loss(build_algorithm("grpo", beta=0, dual_clip_c=3.0), adv, ratio), dual)


# ---------------------------------------------------------------- 15.4 aggregation

@pytest.mark.parametrize("mode, norm_length, expected", [
    ("token-mean", None, 16 / 6), ("seq-mean-token-mean", None, 2.5),
    ("seq-mean-token-sum", None, 8.0), ("seq-mean-token-sum-norm", 4, 2.0),
])
def test_loss_aggregation(mode, norm_length, expected):
    x = torch.tensor([[1.0, 3, 99, 99], [2, 2, 2, 6]])   # padding values must not leak in
    mask = torch.tensor([[1.0, 1, 0, 0], [1, 1, 1, 1]])
    close(float(agg_loss(x, mask, mode, norm_length=norm_length)), expected)


# ---------------------------------------------------------------- 15.5 KL estimators

@pytest.mark.parametrize("p, p_ref, k1, k2, k3", [
    (0.5, 0.25, 0.6931472, 0.2402265, 0.1931472), (0.2, 0.4, -0.6931472, 0.2402265, 0.3068528),
])
def test_kl_estimators(p, p_ref, k1, k2, k3):
    lp, ref = torch.tensor([math.log(p)]), torch.tensor([math.log(p_ref)])
    for name, expected in [("k1", k1), ("k2", k2), ("k3", k3), ("low_var_kl", k3), ("k3+", k3), ("abs", abs(k1))]:
        close(float(kl_penalty(lp, ref, name)), expected)


# ---------------------------------------------------------------- 15.6 end to end on one group

LP_OLD = torch.tensor([[-1.0, -0.5, 0.0], [-0.3, -1.2, -2.0]])
LP = torch.tensor([[-0.8, -0.5, 0.0], [-0.4, -1.0, -2.0]])
LP_REF = torch.tensor([[-1.0, -0.7, 0.0], [-0.3, -1.2, -1.5]])
MASK = torch.tensor([[1.0, 1, 0], [1, 1, 1]])


def e2e(name, **params):
    algo = build_algorithm(name, **params)
    adv, _ = algo.advantages(torch.tensor([1.0, 0.0]), torch.tensor([7, 7]), MASK)
    close(adv[:, 0].tolist(), [0.7071058, -0.7071058])
    pg, _ = ppo_clip(algo.ratio(LP, LP_OLD, MASK), adv, *algo.ratio_bounds(LP_OLD), algo.params.dual_clip_c)
    _, metrics = algo.loss(LossInputs(LP, LP_OLD, adv, MASK, ref_logp=LP_REF if algo.needs_reference else None))
    return pg * MASK, metrics


def test_grpo_end_to_end():
    pg, m = e2e("grpo", beta=0.04)
    close(pg.tolist(), [[-0.8485269, -0.7071058, 0], [0.6398158, 0.8636610, 0.7071058]])
    close([m["pg_loss"], m["kl"], m["loss"]], [-0.0204778, 0.0381359, -0.0189523])
    k3 = kl_penalty(LP, LP_REF, "k3") * MASK
    close(k3.tolist(), [[0.0187308, 0.0187308, 0], [0.0051709, 0.0187308, 0.1487213]])
    _, m = e2e("grpo", beta=0.04, loss_agg_mode="token-mean")
    close([m["pg_loss"], m["kl"]], [0.1309900, 0.0420169])


def test_dapo_end_to_end():
    pg, m = e2e("dapo")
    close(pg.tolist(), [[-0.8636610, -0.7071058, 0], [0.6398158, 0.8636610, 0.7071058]])
    close(m["loss"], 0.1279632)
    _, m = e2e("dapo", loss_agg_mode="seq-mean-token-mean")
    close(m["loss"], -0.0242613)


@pytest.mark.parametrize("name", ["gspo", "gspo_token"])
def test_gspo_end_to_end(name):
    algo = build_algorithm(name)
    adv, _ = algo.advantages(torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), MASK)
    close(algo.ratio(LP, LP_OLD, MASK)[:, 0].tolist(), [1.1051709, 1.0338951])
    losses = [float(algo.loss(LossInputs(LP[i:i + 1], LP_OLD[i:i + 1], adv[i:i + 1], MASK[i:i + 1]))[0]) for i in range(2)]
    close(losses, [-0.7073886, 0.7310732])
    close(float(algo.loss(LossInputs(LP, LP_OLD, adv, MASK))[0]), (-0.7073886 + 0.7310732) / 2)


# ---------------------------------------------------------------- 15.7 DAPO overlong shaping

def test_dapo_overlong_shaping_and_filter():
    algo = build_algorithm("dapo")
    lengths = torch.tensor([10000, 16384, 16385, 18432, 20480, 20481])
    shaped = algo.shape_rewards(torch.zeros(6, dtype=torch.float64), lengths)
    close(shaped.tolist(), [0, 0, -0.0002441, -0.5, -1.0, -1.0])
    f = algo.group_filter
    assert not f.keep([1, 1, 1, 1]) and not f.keep([0, 0, 0, 0]) and f.keep([1, 0, 1, 0])


# ---------------------------------------------------------------- 15.8 GSPO

@pytest.mark.parametrize("name", ["gspo", "gspo_token"])
def test_gspo_sequence_ratio(name):
    algo = build_algorithm(name)
    old = torch.full((2, 3), -1.0)
    logp = old + torch.tensor([[0.1, -0.2, 0.4], [1e-4, 2e-4, 0.0]])
    mask = torch.ones(2, 3)
    close(algo.ratio(logp, old, mask)[:, 0].tolist(), [1.1051709, 1.0001000])
    single = [float(algo.loss(LossInputs(logp[:1], old[:1], torch.full((1, 3), a), mask[:1]))[0]) for a in (1.0, -1.0)]
    close(single, [-1.0004, 1.1051709])
    adv = torch.tensor([[1.0] * 3, [-1.0] * 3])
    close(float(algo.loss(LossInputs(logp, old, adv, mask))[0]), -0.0001499975)


# ---------------------------------------------------------------- 15.9 PAPO

def test_papo_perception_kl_entropies_and_total():
    algo = build_algorithm("papo", beta=0.0, gamma=0.02, eta_ori=0.03, eta_mask=0.03)
    logp = torch.log(torch.tensor([[0.6, 0.9]]))
    masked = torch.log(torch.tensor([[0.3, 0.9]]))
    adv = torch.full((1, 2), -0.1)   # ratio 1 -> pg = 0.1 on every token
    loss, m = algo.loss(LossInputs(logp, logp.detach(), adv, torch.ones(1, 2), masked_logp=masked))
    close([m["pg_loss"], m["kl_prcp"], m["entropy_ori"], m["entropy_mask"]],
          [0.1, 0.0965736, 0.3080931, 0.6546667])
    close(float(loss), 0.1269513)
    close((kl_penalty(logp, masked, "k3")).tolist(), [[0.1931472, 0.0]])


class ScriptedUniforms:
    def __init__(self, values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def test_papo_patch_masking_oracle():
    image = Image.fromarray(np.full((28, 28, 3), 255, dtype=np.uint8))
    masked = np.array(random_patch_blackening(image, 14, 0.6, ScriptedUniforms([0.5, 0.7, 0.1, 0.9])))
    assert (masked[:, :14] == 0).all() and (masked[:, 14:] == 255).all()
    assert masked.mean() == 127.5
    assert (np.array(image) == 255).all()   # the original is untouched


def test_papo_patch_grid_with_partial_patches():
    uniforms = ScriptedUniforms([0.9] * 8 + [0.0])     # only the last (bottom-right, 2x2 px) patch
    image = Image.fromarray(np.full((30, 30, 3), 200, dtype=np.uint8))
    masked = np.array(random_patch_blackening(image, 14, 0.6, uniforms))
    assert uniforms.values == []                         # exactly 9 patches visited
    assert (masked[28:, 28:] == 0).all() and (masked == 0).sum() == 2 * 2 * 3


def test_papo_masking_rate_is_p_mask():
    image = Image.fromarray(np.full((140, 140), 255, dtype=np.uint8))
    fractions = [(np.array(random_patch_blackening(image, 14, 0.6, random.Random(s))) == 0).mean()
                 for s in range(40)]
    assert abs(np.mean(fractions) - 0.6) < 0.05


# ---------------------------------------------------------------- 15.10 DCPO

@pytest.mark.parametrize("q, b16_20, b20_28", [
    (0.9, (0.7687419, 1.1871843), (0.6666667, 1.2490735)), (0.5, (0.5, 1.3062258), (0.5, 1.4)),
    (0.1, (0.5, 2.0), (0.5, 2.2464249)), (0.01, (0.5, 5.0), (0.5, 5.8150729)),
    (1.0, (0.8, 1.1708204), (0.7236068, 1.2280110)),
])
def test_dcpo_dynamic_bounds(q, b16_20, b20_28):
    close([float(b) for b in dynamic_bounds(torch.tensor(q), 0.16, 0.2, 10.0)], b16_20)
    low, high = build_algorithm("dcpo").ratio_bounds(torch.tensor(math.log(q)))
    close([float(low), float(high)], b20_28)


def test_dcpo_bounds_in_probability_space_and_zero_q():
    for q, (lo, hi) in [(0.9, (0.6918677, 1.0684658)), (0.01, (0.005, 0.05))]:
        close([float(b) * q for b in dynamic_bounds(torch.tensor(q, dtype=torch.float64), 0.16, 0.2, 10.0)], [lo, hi])
    close([float(b) for b in dynamic_bounds(torch.tensor(0.0), 0.2, 0.28, 10.0)], [0.5, 10.0])


def test_dcpo_token_loss():
    algo = build_algorithm("dcpo")
    for adv, ratio, expected in [(1, 1.5, -1.4), (-1, 0.3, 0.5)]:
        old = torch.tensor([[math.log(0.5)]])
        loss, _ = algo.loss(LossInputs(old + math.log(ratio), old, torch.tensor([[float(adv)]]), torch.ones(1, 1)))
        close(float(loss), expected)


@pytest.mark.parametrize("state, rewards, new_stats, expected", [
    ((0, 0, 0), [1, 0, 0, 0], (0.25, 0.5), [1.5, -0.5, -0.5, -0.5]),
    ((0, 0, 0), [1, 1, 1, 1], (1.0, 0.0), [0, 0, 0, 0]),
    ((0.25, 0.5, 2), [1, 1, 0, 0], (0.3333333, 0.5400617), [0.9888259, 0.9888259, -0.7001507, -0.7001507]),
    ((0.25, 0.5, 2), [1, 1, 1, 1], (0.5, 0.5400617), [0.3086067] * 4),
    ((0.25, 0.5, 1), [0, 0, 0, 0], (0.125, 0.375), [-0.1666667] * 4),
])
def test_dcpo_smooth_advantage_standardization(state, rewards, new_stats, expected):
    adv, (mu, sigma, k) = sas(torch.tensor(rewards, dtype=torch.float64), state)
    close(adv.tolist(), expected)
    close([mu, sigma], new_stats)
    assert k == state[2] + 1


def test_dcpo_state_through_the_algorithm():
    algo = build_algorithm("dcpo")
    algo.load_state_dict({"prompt_stats": {"42": [0.25, 0.5, 2]}})
    adv, _ = algo.advantages(torch.tensor([1.0, 1, 0, 0]), torch.zeros(4, dtype=torch.long),
                             torch.ones(4, 1), prompt_keys=[42] * 4)
    close(adv[:, 0].tolist(), [0.9888259, 0.9888259, -0.7001507, -0.7001507])
    mu, sigma, k = algo.state_dict()["prompt_stats"]["42"]
    close([mu, sigma], [0.3333333, 0.5400617])
    assert k == 3


# ---------------------------------------------------------------- 15.11 NGRPO

@pytest.mark.parametrize("rewards, expected", [
    ([0, 0, 0, 0], [-0.4472126] * 4), ([1, 1, 1, 1], [0] * 4),
    ([1, 0, 0, 0], [1.0954431] + [-0.7302954] * 3),
    ([1] + [0] * 7, [1.7638302] + [-0.5039515] * 7), ([0] * 8, [-0.3333323] * 8),
])
def test_ngrpo_advantages(rewards, expected):
    close(seq_adv("ngrpo", rewards), expected)


def test_ngrpo_vs_grpo_one_correct_of_eight():
    close(seq_adv("grpo", [1] + [0] * 7)[:2], [2.4748667, -0.3535524])


@pytest.mark.parametrize("adv, ratio, expected", [(-0.5, 0.8, 0.42), (-0.5, 0.85, 0.425), (1, 1.3, -1.24)])
def test_ngrpo_asymmetric_clip(adv, ratio, expected):
    close(one_token_loss(build_algorithm("ngrpo", entropy_coef=0.0), adv, ratio), expected)


# ---------------------------------------------------------------- 15.12 (RLOO part) and 15.13

def test_rloo_advantages():
    close(seq_adv("rloo", [1, 0, 0, 0]), [1, -0.3333333, -0.3333333, -0.3333333])
    close(seq_adv("rloo", [1, 1, 0, 0]), [0.6666667, 0.6666667, -0.6666667, -0.6666667])
    close(seq_adv("rloo", [2.0, 0.75, 1.4082483, -1.0]), [1.6139172, -0.0527494, 0.8249150, -2.3860828])


def test_reinforce_pp_baseline_whitening():
    adv = seq_adv("reinforce_pp_baseline", [1, 0, 0, 0, 1, 1, 0, 0], groups=[0] * 4 + [1] * 4)
    close(adv, [1.5, -0.5, -0.5, -0.5, 1.0, 1.0, -1.0, -1.0])
