"""Plot DUMP's sampling probabilities on synthetic sources (mmrl/curriculum/dump_simulation.py)."""
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mmrl.curriculum.dump_simulation import SOURCES, simulate

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/dump_simulation.png")
h = simulate()
fig, ax = plt.subplots(figsize=(7, 3.6))
for s in SOURCES:
    ax.plot(h[s], label=f"p({s})")
ax.plot(h["learnable_success"], "k--", label="success rate of 'learnable'")
ax.set_xlabel("training step"); ax.set_ylabel("probability"); ax.set_ylim(0, 1.02)
ax.set_title("DUMP sampling on synthetic sources (tau 0.1, window 300)")
ax.legend(loc="center right", fontsize=8); fig.tight_layout()
out.parent.mkdir(parents=True, exist_ok=True); fig.savefig(out, dpi=120)
print(f"wrote {out}")
