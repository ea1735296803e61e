"""The model folder, checked without its weights: config and tokenizer/processor load."""
from __future__ import annotations

from ..errors import UserError
from .report import Report


def check_model(report: Report, model: str, needs_images: bool, key: str = "backbone.model") -> None:
    """`needs_images`: some sample has images, so the model must be a VLM. `key`: what set the
    model (named in each problem line)."""
    try:
        from transformers import AutoConfig

        from ..models.backbone import is_vlm, load_processor, resolve_model
        path = resolve_model(model)
    except UserError as e:
        report.add("model", str(model), [f"{key}: {e}"])
        return
    errors = []
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as e:  # transformers raises OSError/ValueError/KeyError for a bad config
        report.add("model", str(path), [f"{key} {path}: config.json does not load ({_first_line(e)})"])
        return
    try:
        load_processor(path)
    except Exception as e:
        errors.append(f"{key} {path}: tokenizer/processor does not load ({_first_line(e)})")
    kind = "vision-language" if is_vlm(config) else "text"
    if needs_images and not is_vlm(config):
        errors.append(f"{key} {path}: a text model ({config.model_type}), but samples have images")
    report.add("model", f"{path} ({config.model_type}, {kind}; config + processor, no weights)", errors)


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"
