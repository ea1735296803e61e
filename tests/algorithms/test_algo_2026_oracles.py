"""Every numeric oracle of algorithms-2026.md §7 (CISPO, SAPO, GMPO, GDPO, rollout correction),
asserted to 1e-6 in float64 twice: through mmrl.algorithms.compute_loss on the whole batch, and
through the trainer's micro-batched path (one row per micro-batch, the mini-batch's
algo.loss_scale, losses and gradients summed).

Not asserted: 7.6e (verl Seq-TIS + RS on rho_seq), 7.6k (OpenRLHF seq-mask-tis) and 7.6l (verl
token RS that edits the mask) are anchor variants mmrl does not offer as modes (spec §5.4); the GDPO
verl token-whitening rows of 7.5 likewise.
"""
import numpy as np
import pytest
import torch

from mmrl.algorithms import LossInputs, build_algorithm, compute_loss
from mmrl.algorithms.correction import RolloutCorrection, correct

TOL = 1e-6
F64 = dict(dtype=torch.float64)

# §6 fixture
LOGP = [[-1.0, -0.5, -2.0, -0.1], [-0.3, -1.2, -0.7, 0.0]]
OLD = [[-1.2, -0.4, -1.0, -0.1], [-0.3, -1.5, -0.2, 0.0]]
ROLLOUT = [[-1.25, -0.45, -0.9, -0.1], [-0.35, -1.4, -0.9, 0.0]]
MASK = [[1, 1, 1, 1], [1, 1, 1, 0]]
ADV = [1.5, -0.8]

# case -> (method, params, rollout correction)
CASES = {
    "7.1": ("grpo", {}, None),
    "7.2a": ("cispo", {"is_clip_high": 1.2}, None),                       # verl example
    "7.2b": ("cispo", {}, None),                                          # mmrl default = TRL/ScaleRL cap 5
    "7.2c": ("cispo", {"is_clip_low": 0.8, "is_clip_high": 1.2}, None),   # verl ActorConfig defaults
    "7.2d": ("cispo", {"is_clip_low": 0.8, "is_clip_high": 1.3}, None),   # EasyR1 defaults
    "7.2e": ("cispo", {"is_clip_low": 1.0, "is_clip_high": 5.0}, None),   # EasyR1 example
    "7.3": ("sapo", {}, None),
    "7.4": ("gmpo", {}, None),
    "7.4b": ("gmpo", {}, {"mode": "token_tis"}),
    "7.6a": ("grpo", {}, {"mode": "token_tis"}),
    "7.6b": ("grpo", {}, {"mode": "seq_tis"}),
    "7.6c": ("grpo", {}, {"mode": "seq_mis"}),                            # TRL's default with vLLM
    "7.6d": ("grpo", {}, {"mode": "seq_mis", "clip_max": 1.5}),
    "7.6f": ("grpo", {}, {"mode": "seq_geo_rs"}),
    "7.6g": ("grpo", {}, {"mode": "token_mis"}),                          # IcePop [0.5, 5]
    "7.6h": ("grpo", {}, {"mode": "token_mis", "clip_max": 2.0}),         # IcePop [0.5, 2]
    "7.6i": ("grpo", {}, {"mode": "token_mis", "clip_min": None, "clip_max": 3.0}),   # TRL token_mask
    "7.6j": ("grpo", {}, {"mode": "token_tis", "clip_min": 0.5, "clip_max": 5.0}),    # OpenRLHF tis
    "7.7a": ("cispo", {"is_clip_high": 1.2}, {"mode": "token_tis"}),
    "7.7b": ("sapo", {}, {"mode": "token_tis"}),
    "7.7c": ("sapo", {}, {"mode": "token_mis", "clip_max": 2.0}),
}

LOSSES = {
    ('7.1', 'token-mean'): (-0.384170, [[0.000000, -0.193894, -0.078831, -0.214286], [0.114286, 0.154270, 0.000000, 0.000000]]),
    ('7.1', 'seq-mean-token-mean'): (-0.231153, [[0.000000, -0.169657, -0.068977, -0.187500], [0.133333, 0.179981, 0.000000, 0.000000]]),
    ('7.2a', 'token-mean'): (0.285801, [[-0.257143, -0.193894, -0.078831, -0.214286], [0.114286, 0.137143, 0.069318, 0.000000]]),
    ('7.2b', 'token-mean'): (0.269836, [[-0.261729, -0.193894, -0.078831, -0.214286], [0.114286, 0.154270, 0.069318, 0.000000]]),
    ('7.2c', 'token-mean'): (0.455518, [[-0.257143, -0.193894, -0.171429, -0.214286], [0.114286, 0.137143, 0.091429, 0.000000]]),
    ('7.2d', 'token-mean'): (0.446390, [[-0.261729, -0.193894, -0.171429, -0.214286], [0.114286, 0.148571, 0.091429, 0.000000]]),
    ('7.2e', 'token-mean'): (0.519463, [[-0.261729, -0.214286, -0.214286, -0.214286], [0.114286, 0.154270, 0.114286, 0.000000]]),
    ('7.3', 'seq-mean-token-mean'): (-0.652481, [[-0.226229, -0.169273, -0.062521, -0.187500], [0.133333, 0.174043, 0.077516, 0.000000]]),
    ('7.3', 'token-mean'): (-0.961780, [[-0.258548, -0.193455, -0.071453, -0.214286], [0.114286, 0.149180, 0.066442, 0.000000]]),
    ('7.4', 'seq-mean'): (-0.212001, [[-0.149722, -0.149722, -0.149722, -0.149722], [0.128962, 0.128962, 0.000000, 0.000000]]),
    ('7.4b', 'seq-mean'): (-0.119498, [[-0.149722, -0.149722, -0.149722, -0.149722], [0.159797, 0.159797, 0.000000, 0.000000]]),
    ('7.6a', 'token-mean'): (-0.317186, [[0.000000, -0.203835, -0.071330, -0.214286], [0.120145, 0.139589, 0.000000, 0.000000]]),
    ('7.6a', 'seq-mean-token-mean'): (-0.148448, [[0.000000, -0.178356, -0.062413, -0.187500], [0.140169, 0.162854, 0.000000, 0.000000]]),
    ('7.6b', 'token-mean'): (-0.054590, [[0.000000, -0.193894, -0.078831, -0.214286], [0.218919, 0.295510, 0.000000, 0.000000]]),
    ('7.6b', 'seq-mean-token-mean'): (0.153357, [[0.000000, -0.169657, -0.068977, -0.187500], [0.255405, 0.344761, 0.000000, 0.000000]]),
    ('7.6c', 'token-mean'): (-0.054590, [[0.000000, -0.193894, -0.078831, -0.214286], [0.218919, 0.295510, 0.000000, 0.000000]]),
    ('7.6c', 'seq-mean-token-mean'): (0.153357, [[0.000000, -0.169657, -0.068977, -0.187500], [0.255405, 0.344761, 0.000000, 0.000000]]),
    ('7.6d', 'token-mean'): (-0.744154, [[0.000000, -0.193894, -0.078831, -0.214286], [0.000000, 0.000000, 0.000000, 0.000000]]),
    ('7.6d', 'seq-mean-token-mean'): (-0.651134, [[0.000000, -0.169657, -0.068977, -0.187500], [0.000000, 0.000000, 0.000000, 0.000000]]),
    ('7.6f', 'token-mean'): (-1.302269, [[0.000000, -0.339314, -0.137955, -0.375000], [0.000000, 0.000000, 0.000000, 0.000000]]),
    ('7.6f', 'seq-mean-token-mean'): (-1.302269, [[0.000000, -0.339314, -0.137955, -0.375000], [0.000000, 0.000000, 0.000000, 0.000000]]),
    ('7.6g', 'token-mean'): (-0.315928, [[0.000000, -0.203835, -0.071330, -0.214286], [0.120145, 0.139589, 0.000000, 0.000000]]),
    ('7.6g', 'seq-mean-token-mean'): (-0.146981, [[0.000000, -0.178356, -0.062413, -0.187500], [0.140169, 0.162854, 0.000000, 0.000000]]),
    ('7.6h', 'token-mean'): (-0.500043, [[0.000000, -0.203835, -0.071330, -0.214286], [0.120145, 0.139589, 0.000000, 0.000000]]),
    ('7.6h', 'seq-mean-token-mean'): (-0.361782, [[0.000000, -0.178356, -0.062413, -0.187500], [0.140169, 0.162854, 0.000000, 0.000000]]),
    ('7.6i', 'token-mean'): (-0.315928, [[0.000000, -0.203835, -0.071330, -0.214286], [0.120145, 0.139589, 0.000000, 0.000000]]),
    ('7.6i', 'seq-mean-token-mean'): (-0.146981, [[0.000000, -0.178356, -0.062413, -0.187500], [0.140169, 0.162854, 0.000000, 0.000000]]),
    ('7.6j', 'token-mean'): (-0.315928, [[0.000000, -0.203835, -0.071330, -0.214286], [0.120145, 0.139589, 0.000000, 0.000000]]),
    ('7.6j', 'seq-mean-token-mean'): (-0.146981, [[0.000000, -0.178356, -0.062413, -0.187500], [0.140169, 0.162854, 0.000000, 0.000000]]),
    ('7.7a', 'token-mean'): (0.254333, [[-0.270327, -0.203835, -0.071330, -0.214286], [0.120145, 0.124092, 0.138636, 0.000000]]),
    ('7.7b', 'seq-mean-token-mean'): (-0.480669, [[-0.237828, -0.177952, -0.056571, -0.187500], [0.140169, 0.157481, 0.155031, 0.000000]]),
    ('7.7c', 'seq-mean-token-mean'): (-0.885148, [[-0.237828, -0.177952, -0.056571, -0.187500], [0.140169, 0.157481, 0.000000, 0.000000]]),
}
WEIGHTS = {
    ('7.4b', 'seq_is_weight'): [[1.000000, 1.239096]],
    ('7.6a', 'w'): [[1.051271, 1.051271, 0.904837, 1.000000], [1.051271, 0.904837, 2.000000, 0.000000]],
    ('7.6b', 'w'): [[1.000000, 1.000000, 1.000000, 1.000000], [1.915541, 1.915541, 1.915541, 0.000000]],
    ('7.6c', 'w'): [[1.000000, 1.000000, 1.000000, 1.000000], [1.915541, 1.915541, 1.915541, 0.000000]],
    ('7.6d', 'w'): [[1.000000, 1.000000, 1.000000, 1.000000], [0.000000, 0.000000, 0.000000, 0.000000]],
    ('7.6f', 'w'): [[1.000000, 1.000000, 1.000000, 1.000000], [0.000000, 0.000000, 0.000000, 0.000000]],
    ('7.6f', 'modified_mask'): [[1.000000, 1.000000, 1.000000, 1.000000], [0.000000, 0.000000, 0.000000, 0.000000]],
    ('7.6g', 'w'): [[1.051271, 1.051271, 0.904837, 1.000000], [1.051271, 0.904837, 2.013753, 0.000000]],
    ('7.6h', 'w'): [[1.051271, 1.051271, 0.904837, 1.000000], [1.051271, 0.904837, 0.000000, 0.000000]],
    ('7.6i', 'w'): [[1.051271, 1.051271, 0.904837, 1.000000], [1.051271, 0.904837, 2.013753, 0.000000]],
    ('7.6j', 'w'): [[1.051271, 1.051271, 0.904837, 1.000000], [1.051271, 0.904837, 2.013753, 0.000000]],
    ('7.7a', 'w_tis'): [[1.051271, 1.051271, 0.904837, 1.000000], [1.051271, 0.904837, 2.000000, 0.000000]],
    ('7.7b', 'w_tis'): [[1.051271, 1.051271, 0.904837, 1.000000], [1.051271, 0.904837, 2.000000, 0.000000]],
    ('7.7c', 'w_icepop'): [[1.051271, 1.051271, 0.904837, 1.000000], [1.051271, 0.904837, 0.000000, 0.000000]],
}


def tensors():
    logp = torch.tensor(LOGP, **F64, requires_grad=True)
    return logp, torch.tensor(OLD, **F64), torch.tensor(ROLLOUT, **F64), torch.tensor(MASK, **F64)


def params_for(case, mode):
    name, params, corr = CASES[case]
    if mode != "seq-mean":                      # GMPO's aggregation is fixed (seq-mean of sequences)
        params = {**params, "loss_agg_mode": mode}
    return name, params, corr


def close(actual, expected):
    assert np.allclose(np.asarray(actual, dtype=float), expected, atol=TOL, rtol=0), (actual, expected)


@pytest.mark.parametrize("case, mode", sorted(LOSSES))
def test_oracle_through_compute_loss(case, mode):
    name, params, corr = params_for(case, mode)
    logp, old, rollout, mask = tensors()
    loss, _ = compute_loss(name, logp, old, torch.tensor(ADV, **F64), mask, rollout_logp=rollout,
                           params=params, correction=corr)
    loss.backward()
    expected_loss, expected_grad = LOSSES[case, mode]
    close(float(loss.detach()), expected_loss)
    close(logp.grad, expected_grad)


@pytest.mark.parametrize("case, mode", sorted(LOSSES))
def test_oracle_in_float32_within_the_specs_float32_tolerance(case, mode):
    """The trainer's dtype: float32 log-probs (bf16 ones are upcast) hold the oracles to 1e-5 (spec §6)."""
    name, params, corr = params_for(case, mode)
    logp, old, rollout, mask = (t.detach().float() for t in tensors())
    logp.requires_grad_()
    loss, _ = compute_loss(name, logp, old, torch.tensor(ADV), mask, rollout_logp=rollout, params=params,
                           correction=corr)
    loss.backward()
    assert loss.dtype == torch.float32
    expected_loss, expected_grad = LOSSES[case, mode]
    assert np.allclose(float(loss.detach()), expected_loss, atol=1e-5, rtol=0)
    assert np.allclose(logp.grad.numpy(), expected_grad, atol=1e-5, rtol=0)


@pytest.mark.parametrize("case, mode", sorted(LOSSES))
def test_oracle_through_micro_batches(case, mode):
    """The trainer's path: advantages broadcast by the algorithm, one LossScale for the mini-batch
    (algo.loss_scale: seq_geo_rs counts only kept sequences), one micro-batch per row."""
    name, params, corr = params_for(case, mode)
    algo = build_algorithm(name, correction=corr, **{"beta": 0.0, **params})
    logp, old, rollout, mask = tensors()
    adv = algo.token_advantages(torch.tensor(ADV, **F64), mask, None, None).double()
    scale = algo.loss_scale(mask, old, rollout)
    total = 0.0
    for row in (slice(0, 1), slice(1, 2)):
        x = LossInputs(logp[row], old[row], adv[row], mask[row], rollout_logp=rollout[row])
        loss, _ = algo.loss(x, scale)
        loss.backward()
        total += float(loss.detach())
    expected_loss, expected_grad = LOSSES[case, mode]
    close(total, expected_loss)
    close(logp.grad, expected_grad)


@pytest.mark.parametrize("case, key", sorted(k for k in WEIGHTS if k[0].startswith("7.6") or k[0].startswith("7.7")))
def test_correction_weights_and_masks(case, key):
    _, _, corr = CASES[case]
    _, old, rollout, mask = tensors()
    out = correct(RolloutCorrection(**corr), old, rollout, mask)
    close(out.mask if key == "modified_mask" else out.weight, WEIGHTS[case, key])


def test_derived_ratios_7_0():
    _, old, rollout, mask = tensors()
    unbounded = {"clip_min": None, "clip_max": None}
    close(correct(RolloutCorrection(mode="token_mis", **unbounded), old, rollout, mask).weight,
          [[1.051271, 1.051271, 0.904837, 1.0], [1.051271, 0.904837, 2.013753, 0.0]])        # rho_t
    close(correct(RolloutCorrection(mode="seq_mis", **unbounded), old, rollout, mask).weight[:, 0],
          [1.0, 1.915541])                                                                   # rho_seq
    kept = correct(RolloutCorrection(mode="seq_geo_rs", geo_band=(1.2419, 1.2420)), old, rollout, mask)
    assert kept.mask[:, 0].tolist() == [0.0, 1.0]                                            # rho_geo 1.241930


def test_gmpo_sequence_quantities_7_4():
    logp, old, rollout, mask = tensors()
    _, m = compute_loss("gmpo", logp, old, torch.tensor(ADV, **F64), mask)
    close(m["seq_ratio"], (0.798516 + 0.967216) / 2)               # exp(mean d') per sequence
    close(m["clip_frac"], 1 / 7)                                   # token (2,3): d = -0.5 -> -0.4
    _, m = compute_loss("gmpo", logp, old, torch.tensor(ADV, **F64), mask, rollout_logp=rollout,
                        correction={"mode": "token_tis"})
    close(m["loss"], -0.119498)


def gdpo_adv(**params):
    acc, fmt = [1.0, 0, 1, 0], [1.0, 1, 0, 1]
    algo = build_algorithm("gdpo", **params)
    parts = torch.tensor([acc, fmt], **F64).T
    adv, m = algo.advantages(parts.sum(-1), torch.zeros(4, dtype=torch.long), torch.ones(4, 1), reward_parts=parts)
    return adv[:, 0].tolist(), m


@pytest.mark.parametrize("params, expected", [
    ({}, [1.485775, -0.398112, -0.689550, -0.398112]),                    # sequence-level, ddof 1, eps 1e-6
    ({"eps_std": 1e-4}, [1.485620, -0.398089, -0.689442, -0.398089]),     # TRL / NVlabs TRL-GDPO
    ({"eps_std": 0.0}, [1.485776, -0.398113, -0.689551, -0.398113]),
    ({"adv_batch_norm": False, "eps_std": 1e-4}, [1.365775, -0.365975, -0.633825, -0.365975]),   # A_sum
])
def test_gdpo_advantages_7_5(params, expected):
    adv, m = gdpo_adv(**params)
    close(adv, expected)   # float32 advantages: 1e-6 holds at these magnitudes
    assert m["adv_components"] == 2 and m["adv_shaping_component"] == 0


def test_gdpo_separates_what_grpo_on_the_sum_collapses_7_5():
    r = torch.tensor([2.0, 1, 1, 1], **F64)
    grpo, _ = build_algorithm("grpo").advantages(r, torch.zeros(4, dtype=torch.long), torch.ones(4, 1))
    close(grpo[:, 0], [1.499997, -0.499999, -0.499999, -0.499999])
    adv, _ = gdpo_adv()
    assert adv[1] == adv[3] != adv[2]      # (0,1) and (1,0) now differ
