"""Held-out metrics: eval/accuracy averages the verifier's accuracy part, which is graded for some
verifiers (grounding: the IoU; AEPO: 1/sqrt(N k) or -1/N), so eval/correct reports the share the
verifier calls correct (status "ok": IoU >= 0.5, a click inside the box), the number a user compares."""
from mmrl.train.loop import held_out_metrics
from mmrl.train.records import Response


def _judged(status: str, accuracy: float, reward: float) -> Response:
    return Response([1], [0.0], "x", "stop", status=status, reward=reward, accuracy=accuracy)


def test_correct_is_the_share_of_ok_verdicts_not_the_mean_accuracy_part():
    # grounding: IoU 0.6 (correct), 0.4 (wrong), 0.0 (wrong)
    judged = [_judged("ok", 0.6, 0.64), _judged("wrong", 0.4, 0.46), _judged("wrong", 0.0, 0.1)]
    m = held_out_metrics(judged)
    assert abs(m["eval/accuracy"] - (0.6 + 0.4) / 3) < 1e-9
    assert abs(m["eval/correct"] - 1 / 3) < 1e-9
    assert abs(m["eval/reward"] - 1.2 / 3) < 1e-9
    assert m["eval/judged"] == 3


def test_aepo_accuracy_part_can_be_negative_but_correct_stays_a_share():
    judged = [_judged("ok", 0.5, 1.5), _judged("wrong", -1 / 3, 2 / 3)]
    m = held_out_metrics(judged)
    assert m["eval/accuracy"] < 0.1 and m["eval/correct"] == 0.5
