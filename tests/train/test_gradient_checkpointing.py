"""backbone.gradient_checkpointing must take effect in the update. transformers checkpoints a layer
only when the model is in train mode, and from_pretrained returns it in eval mode: before this test
the option was accepted and did nothing (the activations of a whole micro-batch stayed in memory).
The update now trains in train mode with dropout off (load_policy), so checkpointing recomputes
each layer in backward and the gradient is unchanged (1e-5), shared-prompt rows included."""
import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mmrl.algorithms import build_algorithm
from mmrl.models.backbone import disable_dropout
from mmrl.train.timer import Timer
from mmrl.train.update import Models, Updater
from tests.train.test_update_paths import PlainEngine, groups, tiny_model, training


def update_once(model, share: bool):
    """Run one update of `model`; -> (decoder-layer forward calls, gradients, the model's mode after)."""
    calls, mlp = [], model.model.layers[0].mlp
    forward = mlp.forward  # counted inside the checkpointed layer (module hooks are not rerun by the recompute)
    mlp.forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    engine = PlainEngine(model)
    updater = Updater(Models(engine, None), build_algorithm("grpo", max_new_tokens=8, beta=0.0),
                      training(share_prompt=share), 1.0, 0)
    updater(groups(tiny_model()), Timer())
    return len(calls), engine.grads, model.training


@pytest.mark.parametrize("share", [True, False], ids=["shared-prompt", "unshared"])
def test_checkpointing_recomputes_layers_in_backward_with_the_same_gradient(share):
    base = tiny_model()  # eval mode, as from_pretrained returns a model
    plain_calls, plain_grads, _ = update_once(copy.deepcopy(base), share)
    ckpt = copy.deepcopy(base)
    ckpt.activation_checkpointing_enable()
    calls, grads, training_after = update_once(ckpt, share)
    assert calls == 2 * plain_calls  # each layer's forward runs again in backward: its activations were freed
    for a, b in zip(plain_grads, grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert not training_after  # the update leaves the mode it found (rollouts and log-probs run in eval)


def test_dropout_is_off_so_train_mode_computes_what_the_rollout_sampled():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=2, attention_dropout=0.5)
    model = LlamaForCausalLM(cfg)
    ids = torch.randint(1, 50, (2, 9))
    expected = model.eval()(ids).logits
    model.train()
    assert not torch.allclose(model(ids).logits, expected)  # dropout on: train mode is another function
    disable_dropout(model)
    torch.testing.assert_close(model(ids).logits, expected, rtol=0, atol=1e-6)
