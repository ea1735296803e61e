"""Test-only: the HF engine honouring TokenGenRequest.prompt_token_ids (text prompts), i.e. the
change docs/tools.md asks for in mmrl/rollout/hf.py, applied by subclassing so the test runs today."""
import torch

from mmrl.rollout.hf import HFEngine


class TokenHFEngine(HFEngine):
    def _encode(self, index, request):
        ids = getattr(request, "prompt_token_ids", None)
        if ids is None:
            return super()._encode(index, request)
        assert not request.images, "token-id prompts with images need the VLM path (docs/tools.md)"
        t = torch.tensor([ids])
        return {"input_ids": t, "attention_mask": torch.ones_like(t)}
