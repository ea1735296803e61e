"""A run whose update has only zero advantages learns nothing, for example when the model never
writes the verifier's format. The trainer says so after a few steps, once, naming the verdicts,
instead of spending its budget on silent zero updates. The watch reads the advantages the
algorithm computed (here GRPO's and REINFORCE++'s own), so a baseline that is not the group's
(REINFORCE++: the batch) is not called flat when its groups are."""
import torch

from mmrl.algorithms import build_algorithm
from mmrl.train.records import Group, Response
from mmrl.train.signal import SignalWatch


def _group(rewards, statuses):
    return Group(0, {}, {}, responses=[Response([1], [0.0], "x", "stop", status=s, reward=r)
                                       for r, s in zip(rewards, statuses)])


def _step(groups, algorithm="grpo", **params):
    """The step's metrics as the update reports them: the algorithm's advantage metrics over the
    judged responses."""
    rows = [(k, r.reward) for k, g in enumerate(groups) for r in g.judged]
    ids, rewards = torch.tensor([k for k, _ in rows]), torch.tensor([r for _, r in rows], dtype=torch.float)
    _, metrics = build_algorithm(algorithm, beta=0.0, **params).advantages(rewards, ids, torch.ones(len(rows), 3))
    return {f"advantage/{k}": v for k, v in metrics.items()}


FLAT = [_group([-1.0] * 4, ["format_error"] * 4), _group([-1.0] * 4, ["format_error"] * 4)]
LIVE = [_group([-1.0, 1.5, -1.0, -1.0], ["format_error", "ok", "format_error", "format_error"])]


def test_warns_once_after_patience_flat_steps_naming_the_verdicts():
    watch = SignalWatch(patience=3)
    assert watch.check(1, FLAT, _step(FLAT)) is None and watch.check(2, FLAT, _step(FLAT)) is None
    line = watch.check(3, FLAT, _step(FLAT))
    assert line is not None
    assert "steps 1-3" in line and "format_error 24" in line and "-1" in line
    assert watch.check(4, FLAT, _step(FLAT)) is None  # said once


def test_a_step_with_any_varied_group_resets_the_count():
    watch = SignalWatch(patience=2)
    assert watch.check(1, FLAT, _step(FLAT)) is None
    assert watch.check(2, LIVE, _step(LIVE)) is None
    assert watch.check(3, FLAT, _step(FLAT)) is None
    assert watch.check(4, FLAT, _step(FLAT)) is not None


def test_unjudged_responses_do_not_count_as_a_reward():
    watch = SignalWatch(patience=1)
    mixed = [_group([None, 1.0, None, 1.0], ["timeout", "ok", "timeout", "ok"]),
             _group([1.0, 1.0], ["ok", "ok"])]
    assert "ok 4" in watch.check(1, mixed, _step(mixed))  # the judged ones agree: still no signal


def test_a_step_whose_groups_were_all_filtered_out_is_flat():
    watch = SignalWatch(patience=1)
    assert "format_error 8" in watch.check(1, FLAT, {"update/skipped": 1})  # e.g. DAPO dropped every group


def test_groups_flat_inside_but_apart_carry_a_batch_baseline_gradient():
    # all 0 in one group, all 1 in the other: GRPO has nothing, REINFORCE++ (batch baseline) has a gradient
    apart = [_group([0.0] * 4, ["wrong"] * 4), _group([1.0] * 4, ["ok"] * 4)]
    assert SignalWatch(patience=1).check(1, apart, _step(apart, "grpo")) is not None
    assert SignalWatch(patience=1).check(1, apart, _step(apart, "reinforce_pp", kl_reward_coef=0.0)) is None


def test_the_advice_follows_the_verdicts():
    """All format errors: the model never writes the format. All wrong (the format is right, every
    answer misses alike: smolvl's grounding run settled on one box for every image): the reward
    cannot rank the misses. All ok: the task is too easy. The line says which."""
    wrong = [_group([0.1] * 4, ["wrong"] * 4), _group([0.1] * 4, ["wrong"] * 4)]
    solved = [_group([1.0] * 4, ["ok"] * 4)]
    said = {name: SignalWatch(patience=1).check(1, groups, _step(groups))
            for name, groups in (("format", FLAT), ("wrong", wrong), ("ok", solved))}
    assert "never writes the verifier's format" in said["format"] and "response_prefix" in said["format"]
    assert "never writes" not in said["wrong"] and "ranks near misses" in said["wrong"]
    assert "too easy" in said["ok"] and "never writes" not in said["ok"]
