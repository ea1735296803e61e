"""Draws docs/img/step.png: one training step as the records flowing through its phases
(the picture of docs/architecture.md). Run: .venv/bin/python scripts/draw_step.py"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

PHASES = [  # (title, what it does, file)
    ("sample", "step sampler / DUMP\npick prompt indices", "data/sampler.py\ncurriculum/dump.py"),
    ("generate", "encode prompts (+images,\nmasked images if declared)\nn responses each", "train/rollouts.py\nrollout/{vllm,hf}.py"),
    ("score", "verifier pool: reward,\nparts, accuracy, status\n(None = unjudged)", "train/rewards.py\nmmrl_verifiers/pool.py"),
    ("select", "group rule, dynamic\nsampling rounds,\nCLPO rewrites", "curriculum/step.py\ncurriculum/clpo_step.py"),
    ("update", "declared inputs ->\nadvantages -> micro-\nbatches -> optimizer", "train/update.py\nalgorithms/<method>.py"),
    ("sync + log", "weights into the engine;\nmetrics, TensorBoard,\ncheckpoint", "rollout/vllm.py\ntrain/metrics.py"),
]


def main(out: Path = Path(__file__).resolve().parents[1] / "docs" / "img" / "step.png") -> None:
    fig, ax = plt.subplots(figsize=(15, 4.2))
    ax.set_xlim(0, 6 * 2.5)
    ax.set_ylim(0, 4.2)
    ax.axis("off")
    for i, (title, body, files) in enumerate(PHASES):
        x = i * 2.5 + 0.15
        ax.add_patch(FancyBboxPatch((x, 1.0), 2.1, 2.6, boxstyle="round,pad=0.05", fc="#eef3fb", ec="#3a5a8c"))
        ax.text(x + 1.05, 3.3, title, ha="center", va="center", fontsize=13, weight="bold")
        ax.text(x + 1.05, 2.3, body, ha="center", va="center", fontsize=8.6)
        ax.text(x + 1.05, 1.35, files, ha="center", va="center", fontsize=8, family="monospace", color="#555")
        if i < len(PHASES) - 1:
            ax.add_patch(FancyArrowPatch((x + 2.18, 2.3), (x + 2.57, 2.3), arrowstyle="-|>", mutation_scale=18))
    ax.text(7.5, 0.45, "records (train/records.py): Group(key, sample, prompt, images, masked_prompt, responses)\n"
            "Response(tokens, rollout_logp, policy_mask, text, reward, reward_parts, accuracy, advantage, kl_weight)",
            ha="center", fontsize=9.5, family="monospace")
    ax.text(7.5, 4.05, "one training step (mmrl/train/loop.py: Trainer.train_step), each phase timed as time/<phase>",
            ha="center", fontsize=11)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(out)


if __name__ == "__main__":
    main()
