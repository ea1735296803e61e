"""Mesh math of the CAD verifier (verifiers.md §6.4 steps 3-7): validity, normalisation, Chamfer
distance, volumetric IoU and the log-scale Chamfer reward.

Needs the `cad` extra (trimesh, scipy, manifold3d); it runs in the trusted verifier process on
plain vertex/face arrays, never on objects made by the candidate's script.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

MAX_FACES = 2_000_000
CD_MIN, CD_MAX = 2e-4, 0.1  # r_cd = 1 at or below CD_MIN (sampling-noise floor), 0 at or above CD_MAX


class InvalidShape(ValueError):
    """The mesh is not a usable solid (empty, degenerate, too many faces, non-finite)."""


def load_mesh(path: str) -> trimesh.Trimesh:
    """Read a reference mesh (STL, OBJ, PLY, ... anything trimesh reads) as one triangle mesh."""
    mesh = trimesh.load(path, force="mesh")
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise InvalidShape(f"{path} holds no triangles")
    return mesh


def make_mesh(vertices: np.ndarray, faces: np.ndarray) -> trimesh.Trimesh:
    """Build a mesh from arrays and check it is a usable solid (§6.4 step 3)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1:] != (3,) or faces.ndim != 2 or faces.shape[1:] != (3,):
        raise InvalidShape("vertices and faces must be N x 3 arrays")
    if not 4 <= len(faces) <= MAX_FACES:
        raise InvalidShape(f"{len(faces)} faces (a solid needs 4 to {MAX_FACES})")
    if not np.isfinite(vertices).all():
        raise InvalidShape("non-finite vertex coordinates")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise InvalidShape("face indices out of range")
    mesh = trimesh.Trimesh(vertices, faces, process=True)  # merges the duplicate vertices of STL-like input
    diagonal = float(np.linalg.norm(mesh.extents))
    if diagonal <= 0 or abs(mesh.volume) <= 1e-9 * diagonal ** 3:
        raise InvalidShape(f"no volume (volume {mesh.volume:.3g}, bbox diagonal {diagonal:.3g})")
    return mesh


def normalize(mesh: trimesh.Trimesh, mode: str = "normalized") -> trimesh.Trimesh:
    """Bbox centre to the origin; in `normalized` mode also scale the longest side to 1."""
    if mode not in ("normalized", "absolute"):
        raise ValueError(f"compare_mode must be 'normalized' or 'absolute', got {mode!r}")
    out = mesh.copy()
    out.apply_translation(-out.bounds.mean(axis=0))
    if mode == "normalized":
        out.apply_scale(1.0 / max(float(out.extents.max()), 1e-12))
    return out


def _sample(mesh: trimesh.Trimesh, n_points: int, seed: int) -> np.ndarray:
    return trimesh.sample.sample_surface(mesh, n_points, seed=seed)[0]


def _chamfer_points(p: np.ndarray, g: np.ndarray) -> float:
    d_pg, _ = cKDTree(g).query(p)
    d_gp, _ = cKDTree(p).query(g)
    return float(np.mean(d_pg ** 2) + np.mean(d_gp ** 2))


def chamfer(pred: trimesh.Trimesh, gold: trimesh.Trimesh, n_points: int = 8192) -> float:
    """Symmetric squared Chamfer distance on area-weighted surface samples (fixed seeds: gold 0, pred 1)."""
    return _chamfer_points(_sample(pred, n_points, 1), _sample(gold, n_points, 0))


def sampling_noise(gold: trimesh.Trimesh, n_points: int = 8192) -> float:
    """The CD between two independent samplings of the gold itself: what an identical shape scores.
    It grows with the surface area, so a fixed CD_min alone under-rewards exact copies of plates."""
    return _chamfer_points(_sample(gold, n_points, 2), _sample(gold, n_points, 0))


def volume_iou(pred: trimesh.Trimesh, gold: trimesh.Trimesh) -> float | None:
    """V(P∩G) / (V(P)+V(G)-V(P∩G)) by manifold3d booleans; None unless both meshes are watertight."""
    if not (pred.is_watertight and gold.is_watertight):
        return None
    try:
        inter = pred.intersection(gold, engine="manifold")
    except Exception:  # manifold3d rejects a mesh it cannot make manifold: no IoU, as for open meshes
        return None
    v_inter = float(inter.volume) if len(inter.faces) else 0.0
    union = abs(pred.volume) + abs(gold.volume) - v_inter
    return float(max(0.0, min(1.0, v_inter / union))) if union > 0 else None


def cd_reward(cd: float, cd_min: float = CD_MIN, cd_max: float = CD_MAX) -> float:
    """1 at or below cd_min, 0 at or above cd_max, linear in log10(CD) between (§6.4 step 7)."""
    if cd <= cd_min:
        return 1.0
    if cd >= cd_max:
        return 0.0
    return (math.log10(cd_max) - math.log10(cd)) / (math.log10(cd_max) - math.log10(cd_min))


@dataclass
class Comparison:
    cd: float
    iou: float | None
    r_cd: float
    cd_floor: float  # CD at or below which r_cd = 1: max(cd_min, NOISE_MARGIN · the gold's sampling noise)


NOISE_MARGIN = 1.4  # over the noise of an identical copy; the spec box (noise 1.38e-4) stays on cd_min = 2e-4


def compare(pred: trimesh.Trimesh, gold: trimesh.Trimesh, mode: str = "normalized",
            n_points: int = 8192, cd_min: float = CD_MIN, cd_max: float = CD_MAX,
            noise: float | None = None) -> Comparison:
    """Normalise both meshes, then Chamfer (on a log scale) and volumetric IoU. `noise` is
    sampling_noise(normalised gold), computed here unless the caller cached it. In `absolute` mode
    the CD bounds are scaled by the gold's largest extent squared, so they mean the same."""
    p, g = normalize(pred, mode), normalize(gold, mode)
    if noise is None:
        noise = sampling_noise(g, n_points)
    if mode == "absolute":
        scale = float(gold.extents.max()) ** 2
        cd_min, cd_max = cd_min * scale, cd_max * scale
    floor = min(max(cd_min, NOISE_MARGIN * noise), cd_max / 10)
    cd = chamfer(p, g, n_points)
    return Comparison(cd=cd, iou=volume_iou(p, g), r_cd=cd_reward(cd, floor, cd_max), cd_floor=floor)
