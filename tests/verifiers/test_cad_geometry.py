"""Mesh math of the CAD verifier (verifiers.md §6.4 steps 3-7) on trimesh primitives: no CadQuery,
no sandbox. Oracles are closed-form volumes and the spec's log-scale formula."""
import math

import numpy as np
import pytest
import trimesh

from mmrl_verifiers import cad_geometry as geo


def box(x, y, z, at=(0, 0, 0)):
    m = trimesh.creation.box((x, y, z))
    m.apply_translation(at)
    return m


def test_cd_reward_is_log_linear_between_the_bounds():
    assert geo.cd_reward(1e-5) == 1.0 and geo.cd_reward(2e-4) == 1.0
    assert geo.cd_reward(0.1) == 0.0 and geo.cd_reward(5.0) == 0.0
    midpoint = math.sqrt(2e-4 * 0.1)  # geometric mean: half-way on the log scale
    assert geo.cd_reward(midpoint) == pytest.approx(0.5)
    # spec K4: CD 8.09e-4 -> r_cd 0.7751
    assert geo.cd_reward(8.09e-4) == pytest.approx(0.7751, abs=2e-4)


def test_iou_of_boxes_matches_their_volumes():
    # 20x10x5 inside 20x10x6 (same centre): IoU = 5/6 (spec K4)
    assert geo.volume_iou(box(20, 10, 5), box(20, 10, 6)) == pytest.approx(5 / 6, abs=1e-6)
    # half-overlapping unit cubes: 0.5 / 1.5
    assert geo.volume_iou(box(1, 1, 1), box(1, 1, 1, at=(0.5, 0, 0))) == pytest.approx(1 / 3, abs=1e-6)
    assert geo.volume_iou(box(1, 1, 1), box(1, 1, 1, at=(5, 0, 0))) == 0.0


def test_iou_is_unavailable_for_an_open_mesh():
    open_box = box(1, 1, 1)
    open_box.update_faces(np.arange(len(open_box.faces)) > 1)  # drop one side: no longer watertight
    assert not open_box.is_watertight
    assert geo.volume_iou(open_box, box(1, 1, 1)) is None


def test_normalized_mode_ignores_position_and_scale_absolute_mode_does_not():
    gold, pred = box(20, 10, 5), box(40, 20, 10, at=(100, 3, -7))
    c = geo.compare(pred, gold, "normalized")
    assert c.iou == pytest.approx(1.0, abs=1e-6) and c.r_cd == 1.0
    c = geo.compare(pred, gold, "absolute")
    assert c.iou == pytest.approx(1 / 8, abs=1e-6) and c.r_cd < 0.5


def test_identical_shapes_are_not_penalised_for_sampling_noise():
    # a stack of thin plates (large area for its size): its own sampling noise is above CD_min
    plate = trimesh.util.concatenate([box(1, 1, 0.01, at=(0, 0, 0.1 * i)) for i in range(8)])
    noise = geo.sampling_noise(geo.normalize(plate))
    assert noise > geo.CD_MIN
    same = plate.copy()
    same.apply_translation((0.3, 0, 0))
    c = geo.compare(same, plate)
    assert c.cd > geo.CD_MIN and c.r_cd == 1.0 and c.cd_floor == pytest.approx(geo.NOISE_MARGIN * noise)
    # ... while a single plate is still told apart
    assert geo.compare(box(1, 1, 0.01), plate).r_cd < 0.5


def test_hollow_shell_is_caught_by_iou_not_by_chamfer():
    # spec K8 in spirit: a 0.1-thick shell of the 20x10x5 box (inner box removed)
    shell = box(20, 10, 5).difference(box(19.8, 9.8, 4.8), engine="manifold")
    c = geo.compare(shell, box(20, 10, 5))
    assert c.iou < 0.1 and c.r_cd > 0.3


@pytest.mark.parametrize("vertices, faces, why", [
    (np.zeros((3, 3)), np.array([[0, 1, 2]]), "faces"),
    (np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float),
     np.array([[0, 1, 2], [1, 3, 2], [0, 2, 1], [1, 2, 3]]), "no volume"),
    (np.full((4, 3), np.nan), np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]]), "non-finite"),
    (np.eye(3), np.array([[0, 1, 7]] * 4), "out of range"),
])
def test_make_mesh_rejects_unusable_shapes(vertices, faces, why):
    with pytest.raises(geo.InvalidShape, match=why):
        geo.make_mesh(vertices, faces)


def test_make_mesh_accepts_a_tetrahedron():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    assert geo.make_mesh(v, f).volume == pytest.approx(1 / 6)
