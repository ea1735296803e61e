"""The one chat prompt of the project (training, evaluation, curricula's rewrites): a user turn
(images first, then the text) after an optional system turn, in the model's chat template, ending
with the assistant turn's opening."""
from __future__ import annotations

from typing import Any


def chat_messages(text: str, n_images: int = 0, system: str | None = None) -> list[dict]:
    content: Any = text if n_images == 0 else [{"type": "image"}] * n_images + [{"type": "text", "text": text}]
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]


def chat_text(processor, text: str, n_images: int = 0, system: str | None = None) -> str:
    return processor.apply_chat_template(chat_messages(text, n_images, system), tokenize=False,
                                         add_generation_prompt=True)
