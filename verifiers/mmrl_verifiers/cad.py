"""CAD verifier (verifiers.md §6.4): a CadQuery program judged by the geometry it builds.

The response's python block runs in the sandbox (cad_runner.py: wall 30 s, 4 GiB, no network, job
dir only); its solid is compared with the reference mesh by volumetric IoU and a log-scale Chamfer
term after normalisation (cad_geometry.py). An invalid or empty shape scores below every valid one.

gold: a mesh path (STL, OBJ, ... — e.g. CADPrompt's Ground_Truth.stl), or a dict with one of
`mesh_path` / `script` (a reference CadQuery program, run in the sandbox too, cached) and
optionally `compare_mode` ("normalized" | "absolute").

    total = scale · (format_weight·format + (1 − format_weight)·G)
    G = iou_weight·IoU + (1 − iou_weight)·r_cd   (r_cd alone when IoU is unavailable), −1 if invalid
"""
from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.util
import io
import os
import re
import base64
from dataclasses import dataclass, replace

from .format import answer_region, check_format
from .verdict import Verdict

INSTALL_HINT = "pip install 'mmrl-verifiers[cad]'"
MAX_SOURCE = 32 * 1024
_BLOCK = re.compile(r"```(?:python|py|python3)[ \t]*\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Preset:
    format_weight: float
    iou_weight: float       # the rest of G is the Chamfer term
    scale: float = 1.0
    needs_iou: bool = False  # no IoU (open mesh, boolean failed) counts as invalid
    anchor: str = ""


PRESETS = {
    "default": Preset(0.1, 0.5, anchor="verifiers.md §6.4: perfect 1.0, worst valid 0.1, broken -0.8, no code -0.9"),
    "cadrille": Preset(0.0, 1.0, scale=10.0, needs_iou=True, anchor="cadrille RL: 10·IoU if valid, else -10"),
    "cad_coder": Preset(0.1, 0.0, anchor="CAD-Coder: format + Chamfer reward (provisional: its mapping is unpublished)"),
}


def verify_cad(response: str, gold, preset: str = "default", compare_mode: str | None = None,
               think_mode: str = "required", format_weight: float | None = None,
               iou_weight: float | None = None, n_points: int = 8192, cd_min: float = 2e-4,
               cd_max: float = 0.1, wall_s: float = 30.0, memory_mb: int = 4096,
               sandbox_mode: str = "bwrap", truncated: bool = False) -> Verdict:
    """Geometry of the response's CadQuery program against the reference (IoU + Chamfer)."""
    from .sandbox import MODES, SandboxError
    for name, value, valid in (("preset", preset, PRESETS), ("sandbox_mode", sandbox_mode, MODES),
                               ("compare_mode", compare_mode, (None, "normalized", "absolute"))):
        if value not in valid:
            return Verdict.unjudged("infra_error", f"cad: unknown {name} {value!r}; valid: "
                                    + ", ".join(str(v) for v in valid if v is not None))
    if not 0 < memory_mb <= 16384 or not 0 < wall_s <= 600:
        return Verdict.unjudged("infra_error", "cad: memory_mb must be in (0, 16384] and wall_s in (0, 600]")
    weights = replace(PRESETS[preset], **{k: v for k, v in (("format_weight", format_weight),
                                                             ("iou_weight", iou_weight)) if v is not None})
    missing = [m for m in ("cadquery", "trimesh", "manifold3d", "scipy") if importlib.util.find_spec(m) is None]
    if missing:
        return Verdict.unjudged("infra_error", f"the CAD verifier needs {', '.join(missing)}: {INSTALL_HINT}")
    from . import cad_geometry as geo
    from .cad_runner import ZygoteError

    def total(fmt: float, g: float) -> float:
        return weights.scale * (weights.format_weight * fmt + (1 - weights.format_weight) * g)

    source, problem = extract_program(response, think_mode)
    if truncated:  # the pool's rule: finish_reason=length and not allow_truncated
        source, problem = None, "the generation was truncated (finish_reason=length)"
    if source is None:
        return Verdict(total(0.0, -1.0), {"format": 0.0, "geometry": -1.0}, "format_error", problem)

    limits = {"wall_s": wall_s, "cpu_s": int(wall_s) + 1, "memory_mb": memory_mb, "fsize_mb": 64}
    try:
        gold_mesh, gold_mode = _gold(gold, limits, sandbox_mode)
    except GoldError as e:
        return Verdict.unjudged("gold_error", str(e))
    except (SandboxError, ZygoteError) as e:
        return Verdict.unjudged("infra_error", str(e))
    mode = compare_mode or gold_mode

    try:
        answer = _runner(sandbox_mode).run(source, limits)
    except (SandboxError, ZygoteError) as e:
        return Verdict.unjudged("infra_error", str(e))
    status, reason = answer["status"], answer["reason"]
    info = {"script_wall_s": answer["wall_s"], "preset": preset, "compare_mode": mode}
    if status == "ok":
        try:
            pred = _mesh_from_npz(answer["mesh"])
        except Exception as e:  # whatever the script left there, an unreadable mesh is its failure
            status, reason = "runtime_error", f"invalid shape: {e}"
    if status != "ok":
        return Verdict(total(1.0, -1.0), {"format": 1.0, "geometry": -1.0}, status, reason, source, info)

    c = geo.compare(pred, gold_mesh, mode, n_points, cd_min, cd_max)
    parts = {"format": 1.0, "cd": c.cd, "r_cd": c.r_cd}
    info.update(n_faces=len(pred.faces), cd_floor=c.cd_floor)
    if c.iou is None and weights.needs_iou:
        parts["geometry"] = -1.0
        return Verdict(total(1.0, -1.0), parts, "runtime_error",
                       "no volumetric IoU (a mesh is not watertight), which this preset requires", source, info)
    if c.iou is None:
        g = c.r_cd
        info["iou"] = "unavailable: a mesh is not watertight; G = r_cd"
    else:
        parts["iou"] = c.iou
        g = weights.iou_weight * c.iou + (1 - weights.iou_weight) * c.r_cd
    parts["geometry"] = g
    return Verdict(total(1.0, g), parts, "ok", "", source, info)


def extract_program(response: str, think_mode: str = "required") -> tuple[str | None, str]:
    """(the one python block after the think block, '') or (None, why the format fails)."""
    problem = check_format(response, think_mode, answer_tag=None)
    if problem:
        return None, problem
    blocks = _BLOCK.findall(answer_region(response, think_mode, None) or "")
    if len(blocks) != 1:
        return None, f"needs exactly one ```python block after the think block, found {len(blocks)}"
    if len(blocks[0].encode()) > MAX_SOURCE:
        return None, f"the program is over {MAX_SOURCE // 1024} KiB"
    return blocks[0], ""


class GoldError(ValueError):
    pass


def _gold(gold, limits: dict, sandbox_mode: str):
    """(reference mesh, compare mode) from a path or a {mesh_path | script, compare_mode} dict."""
    spec = {"mesh_path": gold} if isinstance(gold, (str, os.PathLike)) else gold
    if not isinstance(spec, dict) or not ({"mesh_path", "script"} & spec.keys()):
        raise GoldError(f"CAD gold must be a mesh path or a dict with mesh_path or script, got {gold!r:.200}")
    mode = spec.get("compare_mode", "normalized")
    if mode not in ("normalized", "absolute"):
        raise GoldError(f"gold compare_mode must be 'normalized' or 'absolute', got {mode!r}")
    if "mesh_path" in spec:
        path = os.fspath(spec["mesh_path"])
        if not os.path.isfile(path):
            raise GoldError(f"reference mesh {path} not found")
        try:
            return _load_gold_mesh(path, os.path.getmtime(path)), mode
        except Exception as e:  # trimesh raises many kinds of error on a malformed file
            raise GoldError(f"cannot use the reference mesh {path}: {e}") from None
    return _gold_from_script(spec["script"], limits["wall_s"], limits["memory_mb"], sandbox_mode), mode


@functools.lru_cache(maxsize=256)
def _load_gold_mesh(path: str, mtime: float):
    from . import cad_geometry as geo
    mesh = geo.load_mesh(path)
    return geo.make_mesh(mesh.vertices, mesh.faces)


@functools.lru_cache(maxsize=256)
def _gold_from_script(script: str, wall_s: float, memory_mb: int, sandbox_mode: str):
    answer = _runner(sandbox_mode).run(script, {"wall_s": wall_s, "cpu_s": int(wall_s) + 1,
                                                "memory_mb": memory_mb, "fsize_mb": 64})
    digest = hashlib.sha256(script.encode()).hexdigest()[:12]
    if answer["status"] != "ok":
        raise GoldError(f"reference script {digest} failed: {answer['status']}: {answer['reason']}")
    try:
        return _mesh_from_npz(answer["mesh"])
    except Exception as e:
        raise GoldError(f"reference script {digest} built an unusable shape: {e}") from None


def _mesh_from_npz(b64: str):
    import numpy as np
    from . import cad_geometry as geo
    with np.load(io.BytesIO(base64.b64decode(b64)), allow_pickle=False) as z:
        return geo.make_mesh(z["vertices"], z["faces"])


_RUNNERS: dict = {}


def _runner(sandbox_mode: str):
    """One sandboxed zygote per process and sandbox mode, closed at exit."""
    from .cad_runner import ScriptRunner
    if sandbox_mode not in _RUNNERS:
        _RUNNERS[sandbox_mode] = ScriptRunner(sandbox_mode)
    return _RUNNERS[sandbox_mode]


@atexit.register
def _close_runners() -> None:
    for runner in _RUNNERS.values():
        runner.close()
