"""The spec's edge cases (all-equal rewards, groups of one, empty/truncated/fully masked responses)
and configuration errors: clear UserErrors naming the bad key, never NaN."""
import copy

import pytest
import torch

from mmrl.algorithms import build_algorithm, names
from mmrl.algorithms.core import AGGREGATIONS
from mmrl.errors import UserError
from mmrl.algorithms import LossInputs

GROUP_NORMALIZED = [n for n in names() if n != "reinforce_pp"]


def make(name, **params):
    defaults = {"norm_length": 8} if name == "dr_grpo" else {}
    return build_algorithm(name, **{**defaults, **params})


def advantages(algo, rewards, groups, mask):
    kw = {"prompt_keys": [f"p{g}" for g in groups]} if algo.name == "dcpo" else {}
    if algo.name == "reinforce_pp":
        kw.update(old_logp=-torch.ones(mask.shape), ref_logp=-torch.ones(mask.shape) * 1.1)
    if "reward_parts" in algo.needs():                  # GDPO: the reward as its only component
        kw.update(reward_parts=torch.tensor(rewards, dtype=torch.float32)[:, None])
    return algo.advantages(torch.tensor(rewards, dtype=torch.float32), torch.tensor(groups), mask, **kw)


@pytest.mark.parametrize("name", sorted(set(names()) - {"ngrpo"}))
@pytest.mark.parametrize("value", [0.0, 1.0, 0.3])
def test_all_equal_rewards_give_zero_advantage(name, value):
    adv, m = advantages(make(name, **({"kl_reward_coef": 0.0} if name == "reinforce_pp" else {})),
                        [value] * 4, [0] * 4, torch.ones(4, 3))
    assert torch.isfinite(adv).all() and (adv == 0).all()
    assert m["zero_adv_group_frac"] == 1.0


def test_ngrpo_all_correct_is_zero_all_wrong_is_not():
    algo = make("ngrpo")
    adv, m = advantages(algo, [1, 1, 1, 1, 0, 0, 0, 0], [0] * 4 + [1] * 4, torch.ones(8, 2))
    assert (adv[:4] == 0).all() and (adv[4:] < 0).all() and m["zero_adv_group_frac"] == 0.5


@pytest.mark.parametrize("name", GROUP_NORMALIZED)
def test_group_of_one_is_a_config_error(name):
    algo = make(name)
    with pytest.raises(UserError, match="rollout.n"):
        advantages(algo, [1.0, 0.0, 1.0], [0, 0, 5], torch.ones(3, 2))
    with pytest.raises(UserError, match="got 1"):
        algo.check_group_size(1)
    algo.check_group_size(2)


def test_reinforce_pp_accepts_one_sample_per_prompt():
    algo = make("reinforce_pp")
    algo.check_group_size(1)
    adv, _ = advantages(algo, [1.0, 0.0, 0.5], [0, 1, 2], torch.ones(3, 2))
    assert torch.isfinite(adv).all() and adv[0, 0] > adv[2, 0] > adv[1, 0]


def test_reinforce_pp_reward_sits_on_the_last_token_and_kl_enters_the_reward():
    algo = make("reinforce_pp", kl_reward_coef=0.5)
    mask = torch.tensor([[1.0, 1, 1, 0], [1, 1, 0, 0]])
    old = torch.zeros(2, 4)
    ref = torch.tensor([[0.0, 0, -1, 0], [0, 0, 0, 0]])   # k1 = 1 on seq0's last token only
    adv, _ = algo.advantages(torch.tensor([1.0, 0.0]), torch.tensor([0, 1]), mask, old_logp=old, ref_logp=ref)
    # returns: seq0 = 1 - 0.5 = 0.5 on every token; seq1 = 0; whitened over the 5 valid tokens
    returns = torch.tensor([0.5, 0.5, 0.5, 0, 0])
    expected = (returns - returns.mean()) / (returns.var() + 1e-8).sqrt()
    assert torch.allclose(adv[mask.bool()], expected, atol=1e-6) and (adv[~mask.bool()] == 0).all()
    with pytest.raises(ValueError, match="old_logp and ref_logp"):
        algo.advantages(torch.tensor([1.0, 0.0]), torch.tensor([0, 1]), mask)


def all_inputs(mask, seed=0):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(mask.shape, generator=g) * 3
    logp = (old + 0.3 * torch.randn(mask.shape, generator=g)).clamp(max=0).requires_grad_()
    return logp, old


# GSPO and GMPO force seq-mean-token-mean (other modes are rejected: see test_config_errors_name_the_bad_key)
NAME_MODES = [(n, m) for n in names() for m in sorted(AGGREGATIONS)
              if not n.startswith(("gspo", "gmpo")) or m == "seq-mean-token-mean"]


@pytest.mark.parametrize("name, mode", NAME_MODES)
def test_empty_and_fully_masked_rows_never_give_nan(name, mode):
    algo = make(name, loss_agg_mode=mode, norm_length=8, beta=0.1, entropy_coef=0.01)
    for mask in (torch.tensor([[1.0, 1, 1], [0, 0, 0], [1, 0, 0], [1, 1, 1]]), torch.zeros(4, 3)):
        adv, metrics = advantages(algo, [1.0, 0, 0, 1], [0, 0, 1, 1], mask)
        assert (adv[mask == 0] == 0).all()
        logp, old = all_inputs(mask)
        loss, lm = algo.loss(LossInputs(logp, old, adv, mask, ref_logp=old - 0.2, entropy=-logp, masked_logp=old - 0.5))
        loss.backward()
        values = [float(loss.detach()), *metrics.values(), *lm.values()]
        assert all(v == v and abs(v) != float("inf") for v in values), (name, mode, metrics, lm)
        assert torch.isfinite(logp.grad).all() and (logp.grad[mask == 0] == 0).all()
        if mask.sum() == 0:
            assert float(loss.detach()) == 0.0


def test_truncated_responses_are_full_length_and_get_the_overlong_penalty():
    algo = make("dapo", max_new_tokens=None, overlong_max_length=8, overlong_buffer=4)
    mask = torch.ones(2, 8)                       # both hit the budget: every token counts
    rewards = algo.shape_rewards(torch.tensor([1.0, 1.0]), mask.sum(-1))
    assert rewards.tolist() == [0.0, 0.0]         # 1 + R_len(L_max) = 1 - 1
    assert algo.shape_rewards(torch.tensor([1.0]), torch.tensor([6])).tolist() == [0.5]


def test_generation_budget_fills_length_constants():
    algo = build_algorithm("dr_grpo", max_new_tokens=256)
    assert algo.params.norm_length == 256
    dapo = build_algorithm("dapo", max_new_tokens=128)
    assert (dapo.params.overlong_max_length, dapo.params.overlong_buffer) == (128, 25)
    assert build_algorithm("dapo", max_new_tokens=128, overlong_buffer=64).params.overlong_buffer == 64


def test_papo_skips_samples_without_images():
    algo = make("papo", eta_ori=0.1)
    mask = torch.ones(2, 3)
    logp, old = all_inputs(mask)
    masked = old - 1.0
    _, with_text = algo.loss(LossInputs(logp, old, torch.zeros(2, 3), mask, ref_logp=old, masked_logp=masked, has_image=torch.tensor([True, False])))
    _, only_images = algo.loss(LossInputs(logp[:1], old[:1], torch.zeros(1, 3), mask[:1], ref_logp=old[:1], masked_logp=masked[:1]))
    assert with_text["kl_prcp"] == pytest.approx(only_images["kl_prcp"] / 2)   # same token normalizer
    with pytest.raises(ValueError, match="masked_logp"):
        algo.loss(LossInputs(logp, old, torch.zeros(2, 3), mask, ref_logp=old))


def test_papo_masked_logp_is_detached_unless_recomputed():
    for recompute, expect_grad in [(False, False), (True, True)]:
        algo = make("papo", recompute_masked=recompute, beta=0.0)
        logp, old = all_inputs(torch.ones(1, 2))
        masked = (old - 1.0).requires_grad_()
        loss, _ = algo.loss(LossInputs(logp, old, torch.zeros(1, 2), torch.ones(1, 2), masked_logp=masked))
        loss.backward()
        assert (masked.grad is not None and masked.grad.abs().sum() > 0) == expect_grad
    logp, old = all_inputs(torch.ones(1, 2))
    with pytest.raises(ValueError, match="recompute_masked"):   # a no-grad masked pass would silently detach
        make("papo", recompute_masked=True).loss(LossInputs(logp, old, torch.zeros(1, 2), torch.ones(1, 2), ref_logp=old, masked_logp=old - 1.0))


def test_dcpo_state_round_trip_gives_identical_outputs():
    algo = make("dcpo")
    rewards = torch.tensor([1.0, 0, 0, 0, 1, 1, 0, 1])
    groups, keys = torch.tensor([0] * 4 + [1] * 4), ["a"] * 4 + ["b"] * 4
    algo.advantages(rewards, groups, torch.ones(8, 1), prompt_keys=keys)
    saved = copy.deepcopy(torch.load(_save(algo.state_dict()), weights_only=True))
    restored = make("dcpo")
    restored.load_state_dict(saved)
    nxt = torch.tensor([1.0, 1, 1, 1, 0, 0, 0, 1])
    a, _ = algo.advantages(nxt, groups, torch.ones(8, 1), prompt_keys=keys)
    b, _ = restored.advantages(nxt, groups, torch.ones(8, 1), prompt_keys=keys)
    fresh, _ = make("dcpo").advantages(nxt, groups, torch.ones(8, 1), prompt_keys=keys)
    assert torch.equal(a, b) and not torch.equal(a, fresh)
    assert (a[:4] > 0).all()       # an all-correct group still carries signal once it has history
    with pytest.raises(ValueError, match="prompt_keys"):
        make("dcpo").advantages(nxt, groups, torch.ones(8, 1))


def _save(state):
    import io
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return buf


# ---------------------------------------------------------------- configuration errors

@pytest.mark.parametrize("call, message", [
    (lambda: build_algorithm("grpoo"), "unknown algorithm 'grpoo'; valid: cispo, dapo, dcpo, dr_grpo, gdpo, gmpo, grpo"),
    (lambda: build_algorithm("grpo", clip=0.2), "clip: unknown key; allowed: eps_low, eps_high"),
    (lambda: build_algorithm("grpo", eps_low=-0.1), "eps_low: Input should be greater than 0 (got -0.1)"),
    (lambda: build_algorithm("grpo", eps_high=0), "eps_high: Input should be greater than 0"),
    (lambda: build_algorithm("dapo", dual_clip_c=1.0), "dual_clip_c: Input should be greater than 1"),
    (lambda: build_algorithm("grpo", loss_agg_mode="mean"), "loss_agg_mode: got 'mean'; allowed: 'token-mean'"),
    (lambda: build_algorithm("gspo", loss_agg_mode="token-mean"), "algorithm 'gspo': loss_agg_mode"),
    (lambda: build_algorithm("gmpo", loss_agg_mode="token-mean"), "algorithm 'gmpo': loss_agg_mode"),
    (lambda: build_algorithm("cispo", is_clip_low=2.0, is_clip_high=1.5), "is_clip_low (2.0) must be below"),
    (lambda: build_algorithm("cispo", is_clip_high=0), "is_clip_high: Input should be greater than 0"),
    (lambda: build_algorithm("sapo", tau_neg=0), "tau_neg: Input should be greater than 0"),
    (lambda: build_algorithm("sapo", eps_high=0.3), "algorithm 'sapo': eps_high: not read by this method's loss"),
    (lambda: build_algorithm("cispo", dual_clip_c=3), "algorithm 'cispo': dual_clip_c: not read"),
    (lambda: build_algorithm("grpo", reward_weights=[1, 2]), "reward_weights is read only with advantage 'gdpo'"),
    (lambda: build_algorithm("grpo", correction={"mode": "tis"}), "rollout_correction.mode: got 'tis'; allowed"),
    (lambda: build_algorithm("grpo", correction={"mode": "seq_geo_rs", "clip_max": 2}),
     "rollout_correction.clip_max: clip_min/clip_max are not read by mode 'seq_geo_rs'"),
    (lambda: build_algorithm("grpo", correction={"mode": "token_tis", "geo_band": [0.9, 1.1]}),
     "rollout_correction.geo_band: read only by mode 'seq_geo_rs'"),
    (lambda: build_algorithm("grpo", correction={"mode": "token_mis", "clip_min": 6}),
     "rollout_correction.clip_min: 6.0 must be below clip_max (5.0)"),
    (lambda: build_algorithm("grpo", correction={"mode": "seq_mis", "cap": 3}),
     "rollout_correction.cap: unknown key; allowed: mode, clip_min, clip_max, geo_band"),
    (lambda: build_algorithm("dr_grpo"), "needs norm_length"),
    (lambda: build_algorithm("grpo", kl_estimator="k4"), "kl_estimator"),
    (lambda: build_algorithm("dapo", overlong_buffer=30000), "overlong_buffer (30000) must not exceed"),
    (lambda: build_algorithm("papo", p_mask=1.5), "p_mask"),
])
def test_config_errors_name_the_bad_key(call, message):
    with pytest.raises(UserError) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_shape_mismatch_is_named():
    algo = make("grpo")
    with pytest.raises(ValueError, match="old_logp"):
        algo.loss(LossInputs(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3), torch.ones(2, 3), ref_logp=torch.zeros(2, 3)))
    with pytest.raises(ValueError, match="batch size"):
        algo.advantages(torch.zeros(3), torch.zeros(2, dtype=torch.long), torch.ones(3, 2))
    with pytest.raises(ValueError, match=r"rows \[1\] are not finite"):
        algo.advantages(torch.tensor([1.0, float("nan")]), torch.zeros(2, dtype=torch.long), torch.ones(2, 2))
    with pytest.raises(ValueError, match="pass ref_logp"):
        algo.loss(LossInputs(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3)))


def test_flags_tell_the_trainer_what_to_compute():
    assert make("grpo").needs_reference and not make("dapo").needs_reference
    assert make("reinforce_pp").needs_reference and make("ngrpo").needs_entropy
    assert "masked_logp" in make("papo").needs() and "masked_logp" not in make("grpo").needs()
    assert make("grpo").group_filter is None and make("ngrpo").group_filter.keep([0, 0, 0, 0])
    assert not make("ngrpo").group_filter.keep([1, 1, 1, 1])


def test_docs_table_lists_every_algorithm():
    from pathlib import Path
    docs = (Path(__file__).resolve().parents[2] / "docs" / "algorithms.md").read_text()
    assert [n for n in names() if f"| `{n}` |" not in docs] == []
