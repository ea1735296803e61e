"""Every registered algorithm trains the same toy policy on a verifiable toy task through the
trainer-facing interface (advantages -> mini-batches split into micro-batches -> loss -> AdamW).

Task: prompt p in 0..P-1; a response is up to T tokens from a vocabulary of V (token 0 = EOS,
included in the mask); reward 1 if the tokens before EOS sum to p mod V, else 0. Policy: a logits
table per (prompt, position); PAPO's "masked image" is a shared null prompt. Prints each method's
mean reward before and after training and the time per loss call.

    OMP_NUM_THREADS=1 .venv/bin/python bench/algorithms_toy.py [--steps 60] [--gap 0.5 --correction seq_mis]
"""
from __future__ import annotations

import argparse
import time

import torch

from mmrl.algorithms import LossInputs, build_algorithm, names

P, T, V, G = 8, 4, 5, 8
PARAMS = {"dr_grpo": {"norm_length": T}}


def sample(logits: torch.Tensor, prompts: torch.Tensor, gen: torch.Generator):
    """G responses per prompt: tokens, response mask (EOS included) and rewards."""
    probs = logits[prompts].softmax(-1).repeat_interleave(G, 0)           # [B, T, V]
    tokens = torch.multinomial(probs.view(-1, V), 1, generator=gen).view(-1, T)
    ended_before = (tokens == 0).long().cumsum(-1) - (tokens == 0).long()
    mask = (ended_before == 0).float()
    target = prompts.repeat_interleave(G) % V
    rewards = (((tokens * mask).sum(-1) % V) == target).float()
    return tokens, mask, rewards


def logp_of(logits, rows, tokens):
    return logits[rows].log_softmax(-1).gather(-1, tokens[..., None])[..., 0]


def train(name: str, steps: int, seed: int = 0, correction: dict | None = None,
          gap: float = 0.0) -> tuple[float, float, float]:
    """`gap` > 0: a simulated rollout engine samples from logits + gap * N(0, 1) (fixed noise), so
    its log-probs (rollout_logp) differ from the trainer's, as vLLM's do; `correction` is the
    algorithm's rollout_correction."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    logits = torch.nn.Parameter(torch.zeros(P + 1, T, V))                # row P = the null prompt
    ref = logits.detach().clone()
    engine_noise = gap * torch.randn(P + 1, T, V, generator=torch.Generator().manual_seed(seed + 1))
    algo = build_algorithm(name, correction=correction, **PARAMS.get(name, {}))
    opt = torch.optim.AdamW([logits], lr=0.1)
    first, last, loss_time, loss_calls = None, [], 0.0, 0
    for step in range(steps):
        prompts = torch.arange(P)
        tokens, mask, rewards = sample(logits.detach() + engine_noise, prompts, gen)
        rows = prompts.repeat_interleave(G)
        with torch.no_grad():
            old, ref_lp = logp_of(logits, rows, tokens), logp_of(ref, rows, tokens)
            rollout = logp_of(logits + engine_noise, rows, tokens)
            masked = logp_of(logits, torch.full_like(rows, P), tokens)
        adv, _ = algo.advantages(rewards, rows, mask, prompt_keys=rows.tolist(), old_logp=old, ref_logp=ref_lp,
                                 reward_parts=rewards[:, None])                # one component (GDPO)
        first = rewards.mean().item() if first is None else first
        last = (last + [rewards.mean().item()])[-10:]
        for mini in torch.arange(len(rows)).chunk(2):                         # 2 optimizer steps
            scale = algo.loss_scale(mask[mini], old[mini], rollout[mini])
            opt.zero_grad()
            for micro in mini.chunk(2):                                       # 2 micro-batches each
                lp = logp_of(logits, rows[micro], tokens[micro])
                ent = -(logits[rows[micro]].softmax(-1) * logits[rows[micro]].log_softmax(-1)).sum(-1)
                start = time.perf_counter()
                x = LossInputs(lp, old[micro], adv[micro], mask[micro], ref_logp=ref_lp[micro], entropy=ent,
                               masked_logp=masked[micro], rollout_logp=rollout[micro])
                loss, _ = algo.loss(x, scale)
                loss_time += time.perf_counter() - start
                loss_calls += 1
                loss.backward()
            opt.step()
    return first, sum(last) / len(last), 1e3 * loss_time / loss_calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--gap", type=float, default=0.0, help="simulated rollout-engine log-prob noise")
    parser.add_argument("--correction", default="none", help="rollout_correction mode for every method")
    args = parser.parse_args()
    print(f"{'algorithm':24s} {'reward@0':>9s} {'reward@end':>11s} {'ms/loss':>8s}")
    for name in names():
        before, after, ms = train(name, args.steps, correction={"mode": args.correction}, gap=args.gap)
        print(f"{name:24s} {before:9.3f} {after:11.3f} {ms:8.2f}")


if __name__ == "__main__":
    main()
