"""Counts written into image tokens (mmrl/scenes/count_slots.py): the per-kind counts are the
drawn ones, the caption states them in the alignment facts' words, the hook writes the codebook rows
into exactly the first six tokens of every image, and a slot decodes back to its count."""
import pytest
import torch

from mmrl.scenes import count_slots
from mmrl.scenes.count_slots import SLOTS, SlotWriter, count_caption, counts, decode, slot_targets
from mmrl.scenes.draw import KINDS
from mmrl.scenes.items import MAX_COUNT, make_item


@pytest.mark.parametrize("index", range(12))
def test_counts_are_the_drawn_shapes_and_the_count_items_gold(index):
    item = make_item("train", 0, index, "count")
    per_kind = counts(item.spec)
    assert per_kind[KINDS.index(item.spec["kind"])] == int(item.answer)
    assert sum(per_kind) == len(item.spec["shapes"])  # distractors included (never more than 5 of one kind)


def test_the_caption_states_every_drawn_kind_and_an_absent_asked_kind():
    spec = {"kind": "star", "shapes": [["circle", "red", "small", 10, 10, 20]] * 2 + [["cross", "blue", "large", 50, 50, 40]]}
    assert count_caption(spec) == ("There are 2 circles in the image. There are no stars in the image. "
                                   "There is 1 cross in the image.")
    assert "star" not in count_caption({"shapes": spec["shapes"]})  # no asked kind: only what is drawn


class Tower(torch.nn.Module):
    """Returns its input as the merged tokens, the way the vision tower returns pooler_output."""

    def forward(self, merged):
        from transformers.modeling_outputs import BaseModelOutputWithPooling
        return BaseModelOutputWithPooling(pooler_output=merged)


def test_the_writer_overwrites_the_first_six_tokens_of_each_image_and_nothing_else():
    tower, table = Tower(), torch.randn(SLOTS, MAX_COUNT + 1, 4)
    writer, merged = SlotWriter(tower), torch.randn(2 * 10, 4)  # two images of 10 tokens
    assert torch.equal(tower(merged).pooler_output, merged)  # counts None: passed through
    writer.table, writer.counts = table, [[0, 1, 2, 3, 4, 5], [5, 0, 0, 0, 0, 1]]
    out = tower(merged).pooler_output.view(2, 10, 4)
    assert torch.equal(out[:, :SLOTS], slot_targets(table, writer.counts))
    assert torch.equal(out[0, 2], table[2, 2]) and torch.equal(out[1, 0], table[0, 5])
    assert torch.equal(out[:, SLOTS:], merged.view(2, 10, 4)[:, SLOTS:])


def test_a_slot_decodes_to_the_count_whose_row_it_is_nearest():
    table = torch.randn(SLOTS, MAX_COUNT + 1, 32)
    wanted = [[n % (MAX_COUNT + 1) for n in range(i, i + SLOTS)] for i in range(4)]
    noisy = slot_targets(table, wanted) * 3 + 0.01 * torch.randn(4, SLOTS, 32)  # cosine: the scale does not matter
    assert decode(table, noisy) == wanted
    assert count_slots.SLOTS == len(KINDS)


@pytest.mark.parametrize("index", range(12))
def test_markers_sit_on_the_drawn_centres_and_add_up_to_the_counts(index):
    """Each kind's markers, weighted by the centres they stand for, sum to the kind's drawn count,
    and only centre cells get one: a language model that counts the markers reads the counts."""
    from mmrl.scenes.count_slots import marker_deltas
    from mmrl.scenes.dense import MAX_CENTRES, token_labels

    spec = make_item("train", 0, index, "count").spec
    table = torch.eye(SLOTS * MAX_CENTRES).view(SLOTS, MAX_CENTRES, -1)  # one axis per (kind, centres)
    deltas = marker_deltas(table, [spec, spec], 64)
    assert torch.equal(deltas[0], deltas[1])
    per_axis = deltas[0].sum(0).view(SLOTS, MAX_CENTRES)
    assert (per_axis * torch.arange(1, MAX_CENTRES + 1)).sum(-1).tolist() == counts(spec)
    centre_cells = torch.from_numpy(token_labels(spec).centres.reshape(-1)) > 0
    assert torch.equal(deltas[0].abs().sum(-1) > 0, centre_cells)


def test_the_marker_writer_adds_markers_and_passes_through_when_stopped():
    from mmrl.scenes.count_slots import MarkerWriter, marker_deltas
    from mmrl.scenes.dense import MAX_CENTRES

    spec = make_item("train", 0, 0, "count").spec
    tower, table, merged = Tower(), torch.randn(SLOTS, MAX_CENTRES, 4), torch.randn(64, 4)
    writer = MarkerWriter(tower)
    writer.write(table, [spec])
    assert torch.allclose(tower(merged).pooler_output, merged + marker_deltas(table, [spec], 64)[0])
    writer.write(None, None)
    assert torch.equal(tower(merged).pooler_output, merged)
    with pytest.raises(ValueError, match="not a 224x224 shape scene"):
        marker_deltas(table, [spec], 63)


def _script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "teach_counts.py"
    spec = importlib.util.spec_from_file_location("teach_counts", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_rejects_bad_arguments_with_exit_2(tmp_path, capsys):
    script = _script()
    for bad in (["--out", str(tmp_path / "v.bin")], ["--out", str(tmp_path / "v.safetensors"), "--tower-batch", "0"],
                ["--out", str(tmp_path / "v.safetensors"), "--codebook", str(tmp_path / "none.pt")],
                ["--out", str(tmp_path / "v.safetensors"), "--place", "centres", "--codebook-form", "linear"]):
        with pytest.raises(SystemExit) as e:
            script.main(bad)
        assert e.value.code == 2
    assert "no such file" in capsys.readouterr().err


def test_a_codebook_that_is_not_one_is_one_line_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import mmrl.models.backbone as backbone

    monkeypatch.setattr(backbone, "load_policy", lambda *a, **k: pytest.fail("the model loaded"))
    for content in (b"not a tensor file", None):
        bad = tmp_path / "bad.pt"
        bad.write_bytes(content) if content else torch.save(torch.zeros(2, 3), bad)
        assert _script().main(["--out", str(tmp_path / "v.safetensors"), "--codebook", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--codebook" in err and "bad.pt" in err


def test_the_ce_slot_loss_charges_a_tower_that_writes_none_everywhere():
    """Zeros are most slots: the class weights make writing "none" everywhere cost more than the
    true counts, and the true rows cost almost nothing."""
    slot_ce = _script().slot_ce
    table = torch.nn.functional.normalize(torch.randn(SLOTS, MAX_COUNT + 1, 64), dim=-1)
    true = [[0, 0, 0, 0, 0, 3], [0, 0, 2, 0, 0, 0], [1, 0, 0, 0, 0, 0]]
    right = slot_ce(table, slot_targets(table, true), true)
    none = slot_ce(table, slot_targets(table, [[0] * SLOTS] * 3), true)
    assert right < 0.01 < 1.0 < none
    balanced = torch.nn.functional.cross_entropy(  # unweighted, the zeros (15 of 18 slots) would hide the misses
        torch.nn.functional.cosine_similarity(slot_targets(table, [[0] * SLOTS] * 3)[:, :, None], table[None], dim=-1).flatten(0, 1) / 0.05,
        torch.tensor(true).flatten())
    assert none > 2 * balanced


def test_a_linear_codebook_is_base_plus_count_steps_through_the_first_and_last_rows():
    start = torch.randn(SLOTS, MAX_COUNT + 1, 8)
    table, params = _script().linear_form(start)
    rows = table()
    assert [p.shape for p in params] == [(SLOTS, 8), (SLOTS, 8)]
    torch.testing.assert_close(rows[:, 0], start[:, 0])
    torch.testing.assert_close(rows[:, -1], start[:, -1])
    torch.testing.assert_close(rows[:, 3] - rows[:, 2], rows[:, 1] - rows[:, 0])  # one step per count
    rows.sum().backward()
    assert all(p.grad is not None for p in params)


@pytest.mark.integration
def test_a_smoke_run_writes_weights_codebook_readings_and_curves(tmp_path):
    import json

    script, out = _script(), tmp_path / "v.safetensors"
    small = ["--tower-batch", "2", "--limit", "1", "--codebook-steps", "1"]
    assert script.main(["--out", str(out), "--tower-steps", "1", *small]) == 0
    log = [json.loads(line) for line in out.with_suffix(".counts.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in log] == ["codebook", "tower", "held-out"]
    assert set(log[-1]) >= {"tower", "text embeddings written in", "codebook written in (oracle)", "tower after stage 2"}
    assert out.with_suffix(".codebook.pt").is_file() and out.with_suffix(".tower.png").stat().st_size > 1000
    table = torch.load(out.with_suffix(".codebook.pt"))
    assert table.shape == (SLOTS, MAX_COUNT + 1, 576)
    # a reused codebook skips stage 1; foreign --init weights are one line, exit 2
    again = tmp_path / "w.safetensors"
    assert script.main(["--out", str(again), "--codebook", str(out.with_suffix(".codebook.pt")), "--tower-steps", "0",
                        *small]) == 0
    assert [json.loads(line)["stage"] for line in again.with_suffix(".counts.jsonl").read_text().splitlines()] == ["held-out"]
    linear = tmp_path / "l.safetensors"  # a linear codebook: a count's row is base + n steps
    assert script.main(["--out", str(linear), "--codebook-form", "linear", "--tower-steps", "0", *small]) == 0
    rows = torch.load(linear.with_suffix(".codebook.pt"))
    torch.testing.assert_close(rows[:, 3] - rows[:, 2], rows[:, 5] - rows[:, 4])
    # markers on the centres: their own codebook shape, and a slots codebook is refused for them
    centres = tmp_path / "c.safetensors"
    assert script.main(["--out", str(centres), "--place", "centres", "--tower-steps", "1", *small]) == 0
    assert torch.load(centres.with_suffix(".codebook.pt")).shape == (SLOTS, 2, 576)
    assert [json.loads(line)["stage"] for line in centres.with_suffix(".counts.jsonl").read_text().splitlines()] \
        == ["codebook", "tower", "held-out"]
    assert script.main(["--out", str(centres), "--place", "centres", "--codebook", str(out.with_suffix(".codebook.pt")),
                        *small]) == 2
    foreign = tmp_path / "foreign.safetensors"
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(1)}, str(foreign))
    assert script.main(["--out", str(again), "--init", str(foreign), *small]) == 2
