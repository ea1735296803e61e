"""DAPO dynamic sampling: the group filter and the refill loop that never aborts."""
from mmrl.curriculum import GroupFilter, fill_batch


def test_default_filter_keeps_only_mixed_groups():
    f = GroupFilter()
    assert f.keep([1, 0, 0, 0]) and f.keep([1, 1, 1, 0])
    assert not f.keep([0, 0, 0, 0]) and not f.keep([1, 1, 1, 1]) and not f.keep([])


def test_band_pass_is_inclusive():
    f = GroupFilter(low=0.25, high=0.5, band_pass=True)
    assert f.keep([1, 0, 0, 0]) and f.keep([1, 1, 0, 0])
    assert not f.keep([1, 1, 1, 0]) and not f.keep([0, 0, 0, 0])


def test_refill_stops_at_the_target_and_truncates():
    rounds = [[[1, 0], [1, 1], [0, 1]], [[0, 0], [1, 0]]]
    kept, m = fill_batch(lambda r: rounds[r], lambda g: g, target_groups=3, max_rounds=5)
    assert kept == [[1, 0], [0, 1], [1, 0]]
    assert m["dynamic_sampling/rounds"] == 2 and m["dynamic_sampling/short_by"] == 0


def test_reaching_the_bound_trains_on_what_passed():
    kept, m = fill_batch(lambda r: [[0, 0], [1, 0]], lambda g: g, target_groups=5, max_rounds=2)
    assert kept == [[1, 0], [1, 0]]
    assert m["dynamic_sampling/short_by"] == 3 and m["dynamic_sampling/rounds"] == 2
    assert m["dynamic_sampling/kept_frac"] == 0.5


def test_exhausted_data_ends_the_loop():
    kept, m = fill_batch(lambda r: [], lambda g: g, target_groups=2, max_rounds=10)
    assert kept == [] and m["dynamic_sampling/rounds"] == 1
