"""Grounding, detection and counting: verifiers.md §5.7 vectors R1-R10, D1-D8, N1 and IoU properties."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from mmrl_verifiers import verify
from mmrl_verifiers.geometry import iou


def wrap(answer: str) -> str:
    return f"<think>look at the image</think><answer>{answer}</answer>"


def ground(answer, gold, **options):
    options.setdefault("frame", "abs")
    return verify("grounding", wrap(answer), gold, **options)


@pytest.mark.parametrize("case, pred, gold, size, acc", [
    ("R1", [10, 10, 50, 50], [10, 10, 50, 50], None, 1.0),
    ("R2", [50, 0, 150, 100], [0, 0, 100, 100], None, 0.3333),
    ("R3", [25, 25, 75, 75], [0, 0, 100, 100], None, 0.25),
    ("R4", [0, 0, 10, 10], [20, 20, 30, 30], None, 0.0),
    ("R5", [0, 0, 1920, 1080], [100, 100, 200, 150], [1920, 1080], 0.002411),
])
def test_grounding_iou_vectors(case, pred, gold, size, acc):
    v = ground(json.dumps({"bbox_2d": pred}), gold, image_size=size)
    assert v.parts["accuracy"] == pytest.approx(acc, abs=1e-4)
    assert v.parts["format"] == 1.0
    assert v.score == pytest.approx(0.9 * acc + 0.1, abs=1e-4)


def test_r6_inverted_box_scores_zero_but_format_ok():
    v = ground("[50,50,10,10]", [10, 10, 50, 50])
    assert v.parts == {"format": 1.0, "accuracy": 0.0} and "x2 > x1" in v.reason


@pytest.mark.parametrize("answer", [
    '[{"bbox_2d": [10,10,50,50]}, {"bbox_2d": [10,10,50,50]}]',
    '{"bbox_2d": [10,10,50,50]} and also [60,60,80,80]',
    "<|box_start|>(1,1),(5,5)<|box_end|><|box_start|>(10,10),(50,50)<|box_end|>",
])
def test_r7_two_boxes_in_a_referring_answer_score_zero(answer):
    v = ground(answer, [10, 10, 50, 50], frame="norm1000", image_size=[1000, 1000])
    assert v.parts["accuracy"] == 0.0 and v.info["multi_box"]


def test_r8_qwen2_box_tokens_in_norm1000():
    v = ground("<|box_start|>(500,500),(1000,1000)<|box_end|>", [960, 540, 1920, 1080],
               frame="norm1000", image_size=[1920, 1080])
    assert json.loads(v.extracted) == [960, 540, 1920, 1080] and v.parts["accuracy"] == 1.0


def test_r9_qwen25_resized_pixels():
    v = ground('```json\n[{"bbox_2d": [966, 546, 1932, 1092], "label": "cat"}]\n```', [960, 540, 1920, 1080],
               frame="qwen25_resized", image_size=[1920, 1080])
    assert json.loads(v.extracted) == [960, 540, 1920, 1080] and v.parts["accuracy"] == 1.0


def test_r9_the_same_answer_read_in_the_wrong_frame_is_flagged():
    v = ground("[966, 546, 1932, 1092]", [960, 540, 1920, 1080], frame="norm1", image_size=[1920, 1080])
    assert v.parts["accuracy"] < 0.01 and "frame warning" in v.reason


def test_r10_acc_modes():
    assert ground("[50,0,150,100]", [0, 0, 100, 100], acc_mode="thresh").parts["accuracy"] == 0.0
    assert ground("[50,0,150,100]", [0, 0, 100, 100], acc_mode="iou_sq").parts["accuracy"] == pytest.approx(0.1111, abs=1e-4)
    assert ground("[10,10,60,50]", [10, 10, 50, 50], acc_mode="thresh").parts["accuracy"] == 1.0


def test_boxes_outside_the_image_are_clipped_then_scored():
    # half of the box hangs off the right edge: clipped to [50, 0, 100, 100]
    v = ground("[50,0,150,100]", [50, 0, 100, 100], image_size=[100, 100])
    assert v.parts["accuracy"] == 1.0
    off = ground("[200,200,300,300]", [50, 0, 100, 100], image_size=[100, 100])
    assert off.parts["accuracy"] == 0.0 and "outside the image" in off.reason


def test_grounding_format_and_truncation():
    assert ground("I cannot see it", [0, 0, 1, 1]).status == "format_error"
    v = verify("grounding", "[10,10,50,50]", [10, 10, 50, 50], frame="abs")  # no think/answer tags
    assert v.parts == {"format": 0.0, "accuracy": 1.0}
    cut = ground("[10,10,50,50]", [10, 10, 50, 50], finish_reason="length")
    assert cut.parts["accuracy"] == 0.0 and "truncated" in cut.reason


@pytest.mark.parametrize("gold, options, why", [
    ([10, 10, 5, 50], {"frame": "abs"}, "x2 > x1"),
    ("not json", {"frame": "abs"}, "not JSON"),
    ([1, 2, 3], {"frame": "abs"}, "no boxes"),
    ([10, 10, 50, 50], {}, "no 'frame' option"),
    ([10, 10, 50, 50], {"frame": "norm1000"}, "image_size"),
])
def test_broken_gold_or_settings_are_not_judged(gold, options, why):
    v = verify("grounding", wrap("[10,10,50,50]"), gold, **options)
    assert v.score is None and v.status == "gold_error" and why in v.reason


# ---- detection (§5.4) ----
GOLD = [{"bbox_2d": [0, 0, 10, 10], "label": "cat"}, {"bbox_2d": [20, 20, 40, 40], "label": "dog"}]


def detect(preds, gold=GOLD, **options):
    return verify("detection", wrap(json.dumps(preds)), gold, frame="abs", **options)


def test_d1_perfect_in_any_order():
    assert detect(GOLD[::-1]).parts["accuracy"] == 1.0


def test_d2_half_the_objects():
    assert detect(GOLD[:1]).parts["accuracy"] == 0.5


def test_d3_box_spam_hits_the_cap():
    extra = [{"bbox_2d": [100 + i, 100, 120 + i, 120], "label": "cat"} for i in range(20)]
    v = detect(GOLD + extra)
    assert v.parts["accuracy"] == 0.0 and "too_many_boxes" in v.reason and "max_pred 20" in v.reason
    assert detect(GOLD + extra, max_pred=100).parts["accuracy"] == pytest.approx(2 / 22)


def test_d4_wrong_label_is_no_match_and_synonyms_apply():
    wrong = [GOLD[0], {"bbox_2d": [20, 20, 40, 40], "label": "cow"}]
    assert detect(wrong).parts["accuracy"] == 0.5
    assert detect(wrong, synonyms={"Cow": "dog"}).parts["accuracy"] == 1.0
    assert detect([GOLD[0], {"bbox_2d": [20, 20, 40, 40], "label": " DOG "}]).parts["accuracy"] == 1.0


def test_d5_shifted_box():
    shifted = [{"bbox_2d": [2, 0, 12, 10], "label": "cat"}, GOLD[1]]
    assert detect(shifted).parts["accuracy"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)


def test_d6_empty_gold():
    assert detect([], gold=[]).parts["accuracy"] == 1.0
    assert detect(GOLD[:1], gold=[]).parts["accuracy"] == 0.0


def test_d7_a_bare_number_is_a_format_error_not_a_hit():
    # Visual-RFT's Math-Verify pre-check scores "303" as 1.0 against a box list containing 303.
    gold = [{"bbox_2d": [254, 303, 291, 365], "label": "x"}]
    v = verify("detection", wrap("303"), gold, frame="abs")
    assert v.score == 0.0 and v.status == "format_error"


def test_d8_zero_confidence_misses_earn_nothing():
    # Visual-RFT's confidence term pays 1 - c = 1.0 for an unmatched box with confidence 0.
    v = verify("detection", wrap("[{'Position': [300, 300, 320, 320], 'Confidence': 0}]"),
               [{"bbox_2d": [0, 0, 10, 10]}], frame="abs")
    assert v.parts["accuracy"] == 0.0


def test_hungarian_beats_greedy():
    # Greedy in prediction order pairs A with gold 1 (IoU 0.54), leaving B only gold 2 (IoU 0.18 < τ);
    # the optimal assignment is A-gold 2 (0.54), B-gold 1 (0.82).
    gold = [{"bbox_2d": [0, 0, 10, 10]}, {"bbox_2d": [6, 0, 16, 10]}]
    preds = [{"bbox_2d": [3, 0, 13, 10]}, {"bbox_2d": [-1, 0, 9, 10]}]
    v = detect(preds, gold=gold)
    assert v.info["true_positives"] == 2


# ---- counting (§5.5) ----
@pytest.mark.parametrize("gold, answer, mode, acc", [
    (5, "5", "exact", 1.0), (5, "4", "exact", 0.0), (5, "4", "partial", 0.8),
    (0, "0", "exact", 1.0), (5, "1000", "exact", 0.0), (5, "1000", "partial", 0.0),
    (5, "There are 3 red and 5 total", "exact", 1.0), ("5", "5", "exact", 1.0),
])
def test_n1_counting(gold, answer, mode, acc):
    assert verify("counting", wrap(answer), gold, count_mode=mode).parts["accuracy"] == acc


@pytest.mark.parametrize("answer", ["5.5", "-5", "1234567"])
def test_counts_must_be_small_non_negative_integers(answer):
    assert verify("counting", wrap(answer), 5).parts["accuracy"] == 0.0


def test_counting_by_listed_points_matches_locations():
    gold = {"count": 2, "boxes": [[0, 0, 10, 10], [20, 20, 30, 30]]}
    hit_both = wrap('[{"point_2d": [5, 5]}, {"point_2d": [25, 25]}]')
    assert verify("counting", hit_both, gold, frame="abs").parts["accuracy"] == 1.0
    same_object_twice = wrap("[[5, 5], [6, 6]]")
    assert verify("counting", same_object_twice, gold, frame="abs").parts["accuracy"] == 0.5
    # the count alone is right, the locations are not
    assert verify("counting", wrap("[[50, 50], [60, 60]]"), gold, frame="abs").parts["accuracy"] == 0.0
    assert verify("counting", wrap("[[50, 50], [60, 60]]"), 2).parts["accuracy"] == 1.0


# ---- IoU properties (hypothesis) ----
quarter = st.integers(0, 4000).map(lambda v: v / 4)  # quarter pixels: distinct boxes stay distinct in float
size = st.integers(1, 4000).map(lambda v: v / 4)
box = st.builds(lambda x, y, w, h: (x, y, x + w, y + h), quarter, quarter, size, size)


@settings(max_examples=400, deadline=None)
@given(a=box, b=box)
def test_iou_symmetric_bounded_and_one_only_when_identical(a, b):
    v = iou(a, b)
    assert v == iou(b, a)
    assert 0.0 <= v <= 1.0
    assert (v == 1.0) == (a == b)


@settings(max_examples=100, deadline=None)
@given(a=box)
def test_iou_of_a_box_with_itself_is_one(a):
    assert iou(a, a) == 1.0


@pytest.mark.parametrize("mode", ["iou", "iou_sq", "thresh", "giou", "gaussian_iou"])
@pytest.mark.parametrize("pred, correct", [
    ([10, 10, 60, 50], True),     # IoU 0.8
    ([10, 10, 50, 36], True),     # IoU 0.65: iou_sq's accuracy is 0.42, still a correct box
    ([30, 30, 80, 80], False),    # IoU 0.1475
    ([70, 70, 90, 90], False),    # disjoint
])
def test_a_box_is_correct_at_iou_half_whatever_the_reward_mode(mode, pred, correct):
    """acc_mode shapes the reward; "ok" means IoU >= 0.5 in every mode (the benchmarks' rule)."""
    v = ground(json.dumps({"bbox_2d": pred}), [10, 10, 50, 50], acc_mode=mode)
    assert (v.status == "ok") == correct, v.parts


def test_giou_mode_scores_a_miss_by_how_far_it_is():
    """acc_mode giou: (GIoU + 1) / 2 (Rezatofighi et al., CVPR 2019), in [0, 1]. Disjoint boxes
    all have IoU 0; GIoU still tells a near miss from a far one, which a model that never
    overlaps the object at first needs to learn where it is."""
    gold = [10, 10, 50, 50]
    acc = lambda box: ground(json.dumps({"bbox_2d": box}), gold, acc_mode="giou").parts["accuracy"]
    assert acc(gold) == pytest.approx(1.0)
    # IoU 0.3333 with a hull of 100x100 = union: GIoU = IoU
    assert ground("[50,0,150,100]", [0, 0, 100, 100], acc_mode="giou").parts["accuracy"] == pytest.approx((1 / 3 + 1) / 2)
    # disjoint, 20x20 boxes 10 px apart: IoU 0, hull 50x20 = 1000, union 800: GIoU = -0.2
    assert ground("[30,0,50,20]", [0, 0, 20, 20], acc_mode="giou").parts["accuracy"] == pytest.approx((-0.2 + 1) / 2)
    near, far = acc([55, 10, 95, 50]), acc([150, 10, 190, 50])
    assert 0 < far < near < 0.5


def test_giou_pays_half_the_reward_for_the_whole_image_and_gaussian_iou_does_not():
    """smolvl under GRPO with the giou reward (session 12) answered [0.1, 0.1, 1.1, 1.1] (fractions:
    about the whole image) for most scenes: its hull is the image, so GIoU = IoU >= 0 and the reward
    (GIoU + 1) / 2 is about 0.5, more than any box that misses. gaussian_iou ((GUI-G² Gaussian at
    the box's centre, sigma = alpha x the gold box's size) + IoU) / 2 still ranks misses by how far
    their centre is, and pays a larger box nothing for its size."""
    gold = [40, 50, 60, 70]
    def acc(box, mode, **options):
        options = {"alpha": 1.0, **options} if mode == "gaussian_iou" else options
        return ground(json.dumps({"bbox_2d": box}), gold, acc_mode=mode, **options).parts["accuracy"]
    whole, near, far = [0, 0, 224, 224], [64, 50, 84, 70], [150, 150, 170, 170]
    assert acc(whole, "giou") > 0.5 > acc(near, "giou") > acc(far, "giou")  # the exploit
    assert acc(gold, "gaussian_iou") == pytest.approx(1.0)
    assert acc(near, "gaussian_iou") > acc(far, "gaussian_iou") > 0
    assert acc(whole, "gaussian_iou") < acc(near, "gaussian_iou") / 10
    assert acc([30, 40, 70, 80], "gaussian_iou") < acc(gold, "gaussian_iou")  # same centre, larger: IoU 0.25
    assert acc(near, "gaussian_iou") > acc(near, "gaussian_iou", alpha=0.25) > 0  # alpha widens the Gaussian
    assert acc(whole, "gaussian_iou", alpha=0.25) < 0.01  # the whole image: IoU / 2, whatever alpha


@pytest.mark.parametrize("answer", ['{"bbox_2d": [1, 1]}', '{"bbox_2d": [1, 2, 3]}', '{"bbox_2d": "top left"}',
                                    '{"bbox_2d": [1, 1, "x", 4]}'])
def test_a_bbox_that_is_not_four_numbers_is_no_box(answer):
    """{"bbox_2d": [1, 1]} holds no box: format 0, as for an answer without one. (A four-number box
    that is inverted is still a box, R6: format 1, accuracy 0.) smolvl under RL found the
    two-number answer and kept it for the format credit alone."""
    v = ground(answer, [10, 10, 50, 50])
    assert v.status == "format_error" and v.parts["format"] == 0.0 and v.score == 0.0
    inverted = ground('{"bbox_2d": [50, 50, 10, 10]}', [10, 10, 50, 50])
    assert inverted.parts["format"] == 1.0 and inverted.parts["accuracy"] == 0.0
