"""Guards against the most frequent multimodal crash, "image features and image tokens do not
match": a prompt truncated through its image tokens, a prompt whose placeholders and images
disagree, or a policy that generates an image pad token which is then fed back into the forward."""
from __future__ import annotations

from ..errors import UserError

VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
IMAGE_PLACEHOLDER = "<|image_pad|>"


def banned_tokens(tokenizer) -> dict[str, int]:
    """Vision tokens of this tokenizer: never to be generated."""
    vocab = tokenizer.get_vocab()
    return {t: vocab[t] for t in VISION_TOKENS if t in vocab}


def _name(index: int, prompt: str) -> str:
    head = " ".join(prompt.split())[-60:]
    return f"sample {index} (prompt ending {head!r})"


def check_images(index: int, prompt: str, n_images: int) -> None:
    placeholders = prompt.count(IMAGE_PLACEHOLDER)
    if placeholders != n_images:
        raise UserError(f"{_name(index, prompt)}: {placeholders} image placeholder(s) {IMAGE_PLACEHOLDER} "
                        f"but {n_images} image(s); apply the chat template with one image entry per image")


def check_prompt_length(index: int, prompt: str, n_tokens: int, limit: int | None) -> None:
    if limit is not None and n_tokens > limit:
        raise UserError(f"{_name(index, prompt)}: prompt is {n_tokens} tokens after image expansion, over "
                        f"max_prompt_len={limit}; refusing to truncate (it would cut image tokens): "
                        f"raise max_prompt_len or lower max_pixels")
