"""Token ids of a tool turn, taken from the model's own chat template so the conversation the
policy continues is the one the template would write: the assistant turn is closed, the tool turn
opens (the template's `tool` role when it renders one, else a `user` turn starting "Tool output:"),
and the next assistant turn is opened. Only this suffix is tokenized; the driver concatenates ids
and never re-tokenizes the whole text (which can merge tokens differently at the seams)."""
from __future__ import annotations

from ..errors import UserError
from ..models.backbone import prepare_images, tokenizer_of

SENTINEL = "\u2063TOOLCALL\u2063"  # stands for the policy's turn when we render the template
MARK = "\u2063OUTPUT\u2063"
USER_PREFIX = "Tool output:\n"


class ToolTurns:
    def __init__(self, processor, role: str = "auto", min_pixels=None, max_pixels=None):
        self.processor, self.tokenizer = processor, tokenizer_of(processor)
        self.vlm = hasattr(processor, "image_processor")
        self.pixels = (min_pixels, max_pixels)
        candidates = {"auto": ["tool", "user"], "tool": ["tool"], "user": ["user"]}[role]
        # A VLM's processor template is the one its prompts are written with (list content, images).
        self.render = processor if self.vlm else self.tokenizer
        plain = [{"role": "user", "content": "Q"}]
        with_prompt = self.render.apply_chat_template(plain, tokenize=False, add_generation_prompt=True)
        without = self.render.apply_chat_template(plain, tokenize=False)
        # What opens an assistant turn (e.g. "<|im_start|>assistant\n"): text after it in a prompt is a prefill.
        self.generation_prompt = with_prompt[len(without):] if with_prompt.startswith(without) else ""
        for name in candidates:
            try:
                suffix = self._suffix(name, MARK, 0)
            except Exception:  # jinja raising on an unknown role: try the next
                continue
            if MARK in suffix:
                self.role, self.prefix = name, ("" if name == "tool" else USER_PREFIX)
                return
        raise UserError(f"tools.role={role!r}: the chat template renders no tool turn in that role")

    def build(self, text: str, images: list = ()) -> tuple[list[int], list]:
        """(ids of the suffix that shows `text` and `images` in a tool turn, the images as prepared
        for the model: what the trainer's forward must receive, in this order)."""
        suffix = self._suffix(self.role, self.prefix + text, len(images))
        if not images:
            return self.tokenizer(suffix, add_special_tokens=False)["input_ids"], []
        if not self.vlm:
            raise UserError("a tool returned an image but the backbone is text-only: enable zoom only on a VLM")
        prepared = prepare_images(self.processor, list(images), *self.pixels)
        enc = self.processor(text=[suffix], images=prepared, add_special_tokens=False)
        return list(enc["input_ids"][0]), prepared

    def _suffix(self, role: str, text: str, n_images: int) -> str:
        content = text if not n_images else [{"type": "text", "text": text}] + [{"type": "image"}] * n_images
        messages = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": SENTINEL},
                    {"role": role, "content": content}]
        full = self.render.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        at = full.rfind(SENTINEL)
        if at < 0:
            raise UserError("the chat template drops the assistant's text; cannot build tool turns for it")
        return full[at + len(SENTINEL):]
