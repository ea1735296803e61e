"""A run whose groups all score alike learns nothing (every group-relative advantage is 0), for
example when the model never writes the verifier's format. The trainer says so after a few steps,
once, naming the verdicts, instead of spending its budget on silent zero updates."""
from mmrl.train.records import Group, Response
from mmrl.train.signal import SignalWatch


def _group(rewards, statuses):
    return Group(0, {}, {}, responses=[Response([1], [0.0], "x", "stop", status=s, reward=r)
                                       for r, s in zip(rewards, statuses)])


FLAT = [_group([-1.0] * 4, ["format_error"] * 4), _group([-1.0] * 4, ["format_error"] * 4)]
LIVE = [_group([-1.0, 1.5, -1.0, -1.0], ["format_error", "ok", "format_error", "format_error"])]


def test_warns_once_after_patience_flat_steps_naming_the_verdicts():
    watch = SignalWatch(patience=3)
    assert watch.check(1, FLAT) is None and watch.check(2, FLAT) is None
    line = watch.check(3, FLAT)
    assert line is not None
    assert "steps 1-3" in line and "format_error 24" in line and "-1" in line
    assert watch.check(4, FLAT) is None  # said once


def test_a_step_with_any_varied_group_resets_the_count():
    watch = SignalWatch(patience=2)
    assert watch.check(1, FLAT) is None
    assert watch.check(2, LIVE) is None
    assert watch.check(3, FLAT) is None
    assert watch.check(4, FLAT) is not None


def test_unjudged_responses_do_not_count_as_a_reward():
    watch = SignalWatch(patience=1)
    mixed = [_group([None, 1.0, None, 1.0], ["timeout", "ok", "timeout", "ok"])]
    assert "ok 2" in watch.check(1, mixed)  # the judged ones agree: still no signal
