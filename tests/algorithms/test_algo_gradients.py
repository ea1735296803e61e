"""Gradient checks on a tiny differentiable policy (a logits table over a 5-token vocabulary)."""
import math

import pytest
import torch

from mmrl.algorithms import LossScale, build_algorithm, names
from mmrl.algorithms.core import AGGREGATIONS
from mmrl.algorithms import LossInputs

VOCAB = 5


class TinyPolicy(torch.nn.Module):
    """Free logits per (sequence, position): the log-prob of each sampled token has its own
    parameters, so a token whose loss term is clipped must receive exactly zero gradient."""

    def __init__(self, batch, length, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.logits = torch.nn.Parameter(torch.randn(batch, length, VOCAB, generator=g))
        self.tokens = torch.randint(0, VOCAB, (batch, length), generator=g)

    def forward(self):
        return self.logits.log_softmax(-1).gather(-1, self.tokens[..., None])[..., 0]


def token_grad_norms(policy):
    return policy.logits.grad.norm(dim=-1)   # [B, T]


def test_clipped_tokens_get_zero_gradient():
    policy = TinyPolicy(2, 3)
    logp = policy()
    # ratios: seq0 (A > 0) [1.5 clipped, 1.0, 1.1]; seq1 (A < 0) [0.5 clipped, 1.0, 1.5]
    ratio = torch.tensor([[1.5, 1.0, 1.1], [0.5, 1.0, 1.5]])
    old = logp.detach() - ratio.log()
    adv = torch.tensor([[1.0] * 3, [-1.0] * 3])
    loss, m = build_algorithm("grpo", beta=0).loss(LossInputs(logp, old, adv, torch.ones(2, 3)))
    loss.backward()
    g = token_grad_norms(policy)
    assert g[0, 0] == 0 and g[1, 0] == 0
    assert (g[:, 1:] > 0).all()
    assert m["clip_frac_high"] == pytest.approx(1 / 6) and m["clip_frac_low"] == pytest.approx(1 / 6)


def test_dual_clip_zeroes_gradient_of_huge_ratio_with_negative_advantage():
    policy = TinyPolicy(1, 2)
    logp = policy()
    old = logp.detach() - torch.tensor([[math.log(4.0), 0.0]])
    loss, m = build_algorithm("grpo", beta=0, dual_clip_c=3.0).loss(LossInputs(logp, old, -torch.ones(1, 2), torch.ones(1, 2)))
    loss.backward()
    g = token_grad_norms(policy)
    assert g[0, 0] == 0 and g[0, 1] > 0 and m["clip_frac_dual"] == 0.5


def on_policy_grads(name, rewards, mask, **params):
    """Gradient wrt each token's log-prob after one on-policy step (ratio == 1)."""
    logp = torch.full(mask.shape, -1.0, requires_grad=True)
    algo = build_algorithm(name, **params)
    adv, _ = algo.advantages(torch.tensor(rewards), torch.zeros(len(rewards), dtype=torch.long), mask)
    loss, _ = algo.loss(LossInputs(logp, logp.detach(), adv, mask))
    loss.backward()
    return logp.grad


def test_ngrpo_learns_from_an_all_wrong_group_where_grpo_does_not():
    mask = torch.ones(4, 3)
    assert (on_policy_grads("grpo", [0.0] * 4, mask, beta=0) == 0).all()
    g = on_policy_grads("ngrpo", [0.0] * 4, mask, entropy_coef=0.0)
    assert (g > 0).all()   # every wrong token is pushed down: d loss / d logp > 0


def test_dr_grpo_gradient_does_not_depend_on_response_length():
    mask = torch.tensor([[1.0, 1, 0, 0], [1, 1, 1, 1]])   # lengths 2 and 4, rewards 1 and 0
    g = on_policy_grads("grpo", [1.0, 0.0], mask, beta=0)
    assert g[0, 0].abs() / g[1, 0].abs() == pytest.approx(2.0)     # GRPO: 1/|o_i| per token
    g = on_policy_grads("dr_grpo", [1.0, 0.0], mask, norm_length=8)
    assert g[0, 0].abs() / g[1, 0].abs() == pytest.approx(1.0)
    assert g[0, 0] == pytest.approx(-0.5 / 8 / 2)                # -A / (L_norm N)
    assert (g * (1 - mask) == 0).all()


@pytest.mark.parametrize("name", ["gspo", "gspo_token"])
def test_gspo_clips_whole_sequences(name):
    policy = TinyPolicy(2, 3)
    logp = policy()
    # seq0: token ratios [1, 1, 1.001] -> s > 1 + 4e-4, A > 0: clipped as a whole, even its
    # tokens whose own ratio is 1; seq1: s = 1, unclipped: every token gets the same weight.
    old = logp.detach() - torch.tensor([[0.0, 0.0, 3e-3], [0.0, 0.0, 0.0]])
    adv = torch.tensor([[1.0] * 3, [-1.0] * 3])
    logp.retain_grad()
    loss, m = build_algorithm(name).loss(LossInputs(logp, old, adv, torch.ones(2, 3)))
    loss.backward()
    assert (logp.grad[0] == 0).all()
    assert torch.allclose(logp.grad[1], torch.full((3,), 1 / 3 / 2))   # -A s / |o| / N
    assert m["clip_frac_high"] == pytest.approx(0.5)


def test_gspo_and_gspo_token_agree_in_value_and_gradient():
    grads, losses = [], []
    for name in ("gspo", "gspo_token"):
        policy = TinyPolicy(3, 4, seed=1)
        logp = policy()
        old = logp.detach() + torch.tensor([[1e-4, -2e-4, 0, 1e-4], [0.0] * 4, [3e-4, 3e-4, -1e-4, 0]])
        mask = torch.tensor([[1.0, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]])
        loss, _ = build_algorithm(name).loss(LossInputs(logp, old, torch.tensor([[1.0], [-0.5], [2.0]]) * mask, mask))
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append(policy.logits.grad)
    assert losses[0] == pytest.approx(losses[1], abs=1e-7)
    assert torch.allclose(grads[0], grads[1], atol=1e-7)


def run_loss(algo, policy, rows, adv, old, ref, masked, mask, scale):
    logp = policy()[rows]
    loss, _ = algo.loss(LossInputs(logp, old[rows], adv[rows], mask[rows], ref_logp=ref[rows], masked_logp=masked[rows], entropy=-logp), scale)
    return loss


@pytest.mark.parametrize("mode", sorted(AGGREGATIONS))
@pytest.mark.parametrize("name", ["grpo", "dapo", "papo", "dcpo", "ngrpo"])
def test_micro_batches_sum_to_the_mini_batch_gradient(name, mode):
    params = {"loss_agg_mode": mode, "norm_length": 6, "beta": 0.1}
    if name == "ngrpo":
        params["entropy_coef"] = 0.01
    if name == "papo":
        params.update(eta_ori=0.03, eta_mask=0.03)
    algo = build_algorithm(name, **params)
    batch, length = 4, 6
    mask = torch.tensor([[1.0] * 6, [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0], [0.0] * 6])   # uneven + empty
    g = torch.Generator().manual_seed(3)
    old = -torch.rand(batch, length, generator=g) * 2
    ref, masked = old - 0.1, old - 0.5
    adv = torch.randn(batch, length, generator=g) * mask

    full = TinyPolicy(batch, length)
    run_loss(algo, full, slice(None), adv, old, ref, masked, mask, None).backward()
    micro = TinyPolicy(batch, length)
    scale = LossScale.of(mask)
    for rows in (slice(0, 1), slice(1, 3), slice(3, 4)):
        run_loss(algo, micro, rows, adv, old, ref, masked, mask, scale).backward()
    assert torch.allclose(full.logits.grad, micro.logits.grad, atol=1e-7)
    assert full.logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", names())
def test_on_policy_gradient_is_minus_advantage_times_grad_logp(name):
    """§0.5: with ratio 1 no clip binds, and every method's policy gradient points along A."""
    params = {"norm_length": 4} if name == "dr_grpo" else {}
    algo = build_algorithm(name, **params)
    mask = torch.ones(4, 2)
    kw = {"prompt_keys": list("abcd")} if name == "dcpo" else {}
    if "reward_parts" in algo.needs():
        kw["reward_parts"] = torch.tensor([[1.0], [0], [0], [1]])
    if name == "reinforce_pp":
        kw.update(old_logp=torch.full((4, 2), -1.0), ref_logp=torch.full((4, 2), -1.0))
    adv, _ = algo.advantages(torch.tensor([1.0, 0, 0, 1]), torch.zeros(4, dtype=torch.long), mask, **kw)
    logp = torch.full((4, 2), -1.0, requires_grad=True)
    extra = {"ref_logp": logp.detach(), "entropy": torch.zeros(4, 2), "masked_logp": logp.detach()}
    loss, m = algo.loss(LossInputs(logp, logp.detach(), adv, mask, **extra))
    loss.backward()
    assert m.get("clip_frac_high", 0) == m.get("clip_frac_low", 0) == m.get("clip_frac", 0) == 0
    assert m.get("is_clip_frac", 0) == 0
    assert (torch.sign(-logp.grad) == torch.sign(adv)).all()
