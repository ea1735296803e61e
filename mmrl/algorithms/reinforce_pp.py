"""REINFORCE++ (arXiv 2501.03262; algorithms.md §13). No group normalization: the response score
sits on its last valid token, a per-token KL penalty -kl_reward_coef * k1 joins the token rewards,
returns are reverse cumulative sums (gamma = 1), and the returns are whitened over all valid tokens
of the batch. PPO-clip, token-mean.

"reinforce_pp" scores a response by its reward (one sample per prompt is fine);
"reinforce_pp_baseline" by its reward minus its group's mean, with the k2 KL in the loss."""
from __future__ import annotations

from torch import Tensor

from .base import AggMode, Algorithm, Coef, KLEstimator, Params, register
from .core import kl_penalty, masked_whiten


class ReinforcePPParams(Params):
    loss_agg_mode: AggMode = "token-mean"
    beta: Coef = 0.0                  # KL in the loss
    kl_reward_coef: Coef = 0.001      # KL in the reward (k1); not pinned by the spec, verl's KL scale


@register("reinforce_pp")
class ReinforcePP(Algorithm):
    Params = ReinforcePPParams
    min_group_size = 1

    def needs(self):
        return super().needs() | ({"ref_logp", "old_logp"} if self.params.kl_reward_coef > 0 else set())

    def sequence_advantages(self, rewards: Tensor, group_ids: Tensor, prompt_keys) -> Tensor:
        return rewards.double()

    def token_advantages(self, seq_adv: Tensor, mask: Tensor, old_logp: Tensor | None,
                         ref_logp: Tensor | None) -> Tensor:
        token_rewards = seq_adv[:, None] * last_token(mask)
        if self.params.kl_reward_coef > 0:
            if old_logp is None or ref_logp is None:
                raise ValueError(f"algorithm '{self.name}' puts KL in the reward: pass old_logp and ref_logp "
                                 "to advantages()")
            token_rewards = token_rewards - self.params.kl_reward_coef * kl_penalty(old_logp, ref_logp, "k1") * mask
        returns = token_rewards.flip(-1).cumsum(-1).flip(-1) * mask
        return masked_whiten(returns, mask)


def last_token(mask: Tensor) -> Tensor:
    """One-hot [B, T] of each row's last valid token (all zero for an empty row)."""
    after = mask.flip(-1).cumsum(-1).flip(-1) - mask    # valid tokens strictly after each position
    return ((after == 0) & (mask > 0)).double()


class ReinforcePPBaselineParams(ReinforcePPParams):
    beta: Coef = 0.001
    kl_estimator: KLEstimator = "k2"   # the paper pairs the baseline variant with k2 in the loss
    kl_reward_coef: Coef = 0.0


@register("reinforce_pp_baseline")
class ReinforcePPBaseline(ReinforcePP):
    Params = ReinforcePPBaselineParams
    min_group_size = 2

    def sequence_advantages(self, rewards: Tensor, group_ids: Tensor, prompt_keys) -> Tensor:
        mean, _ = self.group_stats(rewards, group_ids)
        return rewards.double() - mean
