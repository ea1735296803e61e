"""Per-token log-probs of given tokens, memory-lean: the decoder runs once, then the LM head runs
only on completion positions, in chunks, each chunk recomputed in backward (checkpointed), so no
[B, T, vocab] float32 logits ever exist. Temperature semantics match the rollout engines:
log_softmax(logits / temperature) in float32."""
from __future__ import annotations

from functools import partial

import torch
from torch.utils.checkpoint import checkpoint


def token_logprobs(model, input_ids, attention_mask, completion_mask, mm_inputs=None, temperature=1.0,
                   with_entropy=False, chunk_size=512):
    """Log-prob of input_ids[b, t] given input_ids[b, :t], for positions where completion_mask is 1,
    as float32 [B, T] (0 elsewhere; position 0 is never scored); with_entropy also returns the entropy
    of the predicted distribution there. mm_inputs: sequence_batch's multimodal tensors, named by the
    family adapter and passed through as they are (Qwen-VL needs mm_token_type_ids, padded with zeros
    over the completion, for its M-RoPE positions)."""
    hidden = _last_hidden(model, input_ids, attention_mask, mm_inputs or {})
    rows, cols = completion_mask[:, 1:].bool().nonzero(as_tuple=True)  # hidden at t predicts token t+1
    scores = _scores(model, hidden[rows, cols], input_ids[rows, cols + 1], temperature, with_entropy, chunk_size)
    return _placed(input_ids.shape, (rows, cols + 1), scores, with_entropy)


def packed_logprobs(model, packed, shape, temperature=1.0, with_entropy=False, chunk_size=512):
    """token_logprobs over shared-prompt rows (mmrl.models.shared_prompt.PackedRows): float32 [b, T]
    (`shape`), response r's token t at [r, t], 0 elsewhere; the same numbers as the unshared rows."""
    from .shared_prompt import enable, rope_positions

    enable(model)
    base = model.base_model
    positions = rope_positions(base, packed) if packed.mm_inputs else packed.position_ids
    hidden = base(input_ids=packed.input_ids, position_ids=positions, use_cache=False, shared_prompt=packed.layout,
                  **packed.mm_inputs).last_hidden_state
    scores = _scores(model, hidden[packed.source], packed.targets, temperature, with_entropy, chunk_size)
    return _placed(shape, packed.dest, scores, with_entropy)


def _scores(model, states, targets, temperature, with_entropy, chunk_size) -> list[tuple]:
    """The LM head on the scored positions only, in chunks (each recomputed in backward)."""
    score = partial(_score_chunk, model.get_output_embeddings(), float(temperature), with_entropy)
    parts = []
    for start in range(0, len(targets), chunk_size):
        args = (states[start:start + chunk_size], targets[start:start + chunk_size])
        parts.append(checkpoint(score, *args, use_reentrant=False) if torch.is_grad_enabled() else score(*args))
    return parts


def _placed(shape, where, parts, with_entropy):
    zeros = torch.zeros(shape, dtype=torch.float32, device=where[0].device)
    placed = [zeros.index_put(where, torch.cat([p[k] for p in parts]) if parts else zeros[where])
              for k in range(2 if with_entropy else 1)]
    return tuple(placed) if with_entropy else placed[0]


def _last_hidden(model, input_ids, attention_mask, mm_inputs):
    kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **mm_inputs)
    if not mm_inputs:
        # Text models take positions from the cache index; count real tokens so padding on either side
        # gives the same positions as generation did. (A VLM batch, text-only prompts included, carries
        # its family's tensors and the model computes its own positions from them.)
        kwargs["position_ids"] = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    return model.base_model(**kwargs).last_hidden_state


def _score_chunk(head, temperature, with_entropy, states, targets):
    logp = torch.log_softmax(head(states).float() / temperature, dim=-1)
    picked = logp.gather(-1, targets[:, None]).squeeze(-1)
    if not with_entropy:
        return (picked,)
    return picked, -(logp.exp() * logp).sum(-1)
