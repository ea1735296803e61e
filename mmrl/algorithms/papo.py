"""PAPO (arXiv 2507.06448; algorithms.md §6): GRPO or DAPO plus an implicit perception loss that
*maximizes* KL(pi(.|image) || pi(.|masked image)) on the sampled tokens (k3 estimate), and an
optional double entropy penalty on both policies. Defaults: PAPO-G (EasyR1: eps 0.2 / 0.3, dual
clip 3, token-mean, k3 KL 0.01, gamma 0.02). PAPO-D: eps_high=0.28, beta=0, gamma=0.01, eta 0.03
and DAPO's group filter in the curriculum.

The trainer builds one masked copy of each prompt's images with `random_patch_blackening` (on the
raw image, before the processor's resize) and passes the responses' log-probs under it as
`masked_logp`. SPEC CHOICE §6: by default those are computed once per step with the pre-update
weights and detached (as the published runs); `recompute_masked=True` re-runs them with gradient
in every micro-batch.
"""
from __future__ import annotations

import random
from typing import Annotated

import numpy as np
from PIL import Image
from pydantic import Field
from torch import Tensor

from .base import AggMode, Algorithm, Coef, DualClip, EpsHigh, Params, register
from .inputs import LossInputs
from .core import kl_penalty

Prob = Annotated[float, Field(gt=0, le=1)]


class PAPOParams(Params):
    eps_high: EpsHigh = 0.3
    dual_clip_c: DualClip = 3.0
    loss_agg_mode: AggMode = "token-mean"
    beta: Coef = 0.01
    gamma: Coef = 0.02             # perception-KL coefficient (kl_prcp_coef)
    eta_ori: Coef = 0.0            # double entropy: penalty on mean(-log p) under the real image
    eta_mask: Coef = 0.0           # ... and under the masked image (no gradient unless recompute_masked)
    p_mask: Prob = 0.6
    patch_size: Annotated[int, Field(gt=0)] = 14
    recompute_masked: bool = False


def random_patch_blackening(image: Image.Image, patch_size: int = 14, p_mask: float = 0.6,
                            rng: random.Random | None = None) -> Image.Image:
    """Tile the image row-major into patch_size squares (the last row/column may be narrower) and
    set every channel of each square to 0 with probability p_mask (one rng.random() per square)."""
    rng = rng or random.Random()
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")
    pixels = np.array(image)
    height, width = pixels.shape[:2]
    for y in range(0, height, patch_size):
        for x in range(0, width, patch_size):
            if rng.random() < p_mask:
                pixels[y:y + patch_size, x:x + patch_size] = 0
    return Image.fromarray(pixels, mode=image.mode)


@register("papo")
class PAPO(Algorithm):
    Params = PAPOParams
    metric_reductions = {"kl_prcp": "sum", "entropy_ori": "sum", "entropy_mask": "sum"}

    def needs(self):
        return super().needs() | {"masked_logp_grad" if self.params.recompute_masked else "masked_logp"}

    def mask_image(self, image: Image.Image, rng: random.Random | None = None) -> Image.Image:
        return random_patch_blackening(image, self.params.patch_size, self.params.p_mask, rng)

    def extra_loss(self, x: LossInputs, agg) -> tuple[Tensor, dict[str, float]]:
        logp, mask, masked_logp, has_image = x.logp, x.mask.float(), x.masked_logp, x.has_image
        if masked_logp is None:
            raise ValueError("papo needs masked_logp: the responses' log-probs under the masked image")
        p = self.params
        if p.recompute_masked and logp.requires_grad and not masked_logp.requires_grad:
            raise ValueError("papo recompute_masked=true needs masked_logp computed with gradient in this "
                             "micro-batch (false: once per step, detached)")
        rows = mask if has_image is None else mask * has_image.float()[:, None]   # text-only: no PAPO terms
        lp = logp.float()
        lpm = masked_logp.float() if p.recompute_masked else masked_logp.float().detach()
        kl_prcp = agg(kl_penalty(lp, lpm, "k3") * rows)      # k3 of KL(pi(.|I) || pi(.|I_mask))
        h_ori, h_mask = agg(-lp * rows), agg(-lpm * rows)    # entropy estimated by the sampled NLL
        loss = -p.gamma * kl_prcp + p.eta_ori * h_ori + p.eta_mask * h_mask
        metrics = {"kl_prcp": kl_prcp, "entropy_ori": h_ori, "entropy_mask": h_mask}
        return loss, {k: float(v.detach()) for k, v in metrics.items()}
