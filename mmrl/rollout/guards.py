"""Guards against the most frequent multimodal crash, "image features and image tokens do not
match": a prompt truncated through its image tokens, a prompt whose placeholders and images
disagree, or a policy that generates an image pad token which is then fed back into the forward.
The placeholder and vision tokens are the family adapter's (mmrl/models/families); without one
(a text model, or a bare tokenizer) every registered family's are checked."""
from __future__ import annotations

from ..errors import UserError
from ..models.families import Family, image_placeholders, vision_tokens


def banned_tokens(tokenizer, family: Family | None = None) -> dict[str, int]:
    """Vision tokens of this tokenizer: never to be generated."""
    vocab = tokenizer.get_vocab()
    return {t: vocab[t] for t in vision_tokens(family) if t in vocab}


def _name(index: int, prompt: str) -> str:
    head = " ".join(prompt.split())[-60:]
    return f"sample {index} (prompt ending {head!r})"


def check_images(index: int, prompt: str, n_images: int, family: Family | None = None) -> None:
    for placeholder in image_placeholders(family):
        placeholders = prompt.count(placeholder)
        if placeholders != n_images:
            raise UserError(f"{_name(index, prompt)}: {placeholders} image placeholder(s) {placeholder} "
                            f"but {n_images} image(s); apply the chat template with one image entry per image")


def check_prompt_length(index: int, prompt: str, n_tokens: int, limit: int | None) -> None:
    if limit is not None and n_tokens > limit:
        raise UserError(f"{_name(index, prompt)}: prompt is {n_tokens} tokens after image expansion, over "
                        f"max_prompt_len={limit}; refusing to truncate (it would cut image tokens): "
                        f"raise max_prompt_len or lower max_pixels")
