"""Coordinate frames and smart_resize (verifiers.md §5.1 vectors, G9, R8, R9)."""
import pytest
from hypothesis import assume, given, settings, strategies as st

from mmrl_verifiers.frames import FRAMES, Frame, FrameError, frames_from, smart_resize, suspect_frame

MAX_1280 = 1280 * 28 * 28  # the transformers processor's default max_pixels (1003520)


@pytest.mark.parametrize("hw, kwargs, expected", [
    ((1080, 1920), {}, (1092, 1932)),
    ((1080, 1920), {"max_pixels": MAX_1280}, (728, 1316)),
    ((2400, 1080), {}, (2408, 1092)),
    ((10, 10), {}, (56, 56)),
    ((2160, 3840), {}, (2156, 3836)),
    ((2160, 3840), {"max_pixels": MAX_1280}, (728, 1316)),
])
def test_smart_resize_spec_vectors(hw, kwargs, expected):
    assert smart_resize(*hw, **kwargs) == expected


def reference_function(package: str, relative_path: str, name: str):
    """`name` from a reference library's source file, without importing the library (both
    qwen-vl-utils and transformers import torch, ~20 s on a loaded 2-core machine)."""
    import ast
    import importlib.util
    import math
    import typing
    from pathlib import Path

    root = Path(importlib.util.find_spec(package).submodule_search_locations[0])
    tree = ast.parse((root / relative_path).read_text())
    keep = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in (
        name, "round_by_factor", "ceil_by_factor", "floor_by_factor") or isinstance(node, ast.Assign)
        and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)
        and isinstance(node.value, (ast.Constant, ast.BinOp))]
    namespace = {"math": math, "Optional": typing.Optional, "Tuple": typing.Tuple}
    exec(compile(ast.Module(keep, []), str(root / relative_path), "exec"), namespace)
    return namespace[name]


qwen_resize = reference_function("qwen_vl_utils", "vision_process.py", "smart_resize")
hf_resize = reference_function("transformers", "models/qwen2_vl/image_processing_qwen2_vl.py", "smart_resize")
sizes = st.integers(min_value=28, max_value=5000)


@settings(max_examples=500, deadline=None)
@given(h=sizes, w=sizes, max_tokens=st.sampled_from([None, 256, 1280, 16384]))
def test_smart_resize_matches_qwen_vl_utils_and_transformers(h, w, max_tokens):
    max_pixels = None if max_tokens is None else max_tokens * 28 * 28
    ours = smart_resize(h, w, 28, None, max_pixels)
    assert ours == qwen_resize(h, w, 28, None, max_pixels)
    assert ours == hf_resize(h, w, 28, 4 * 28 * 28, max_pixels or 16384 * 28 * 28)


def test_smart_resize_rejects_bad_sizes():
    with pytest.raises(FrameError, match="aspect ratio"):
        smart_resize(10, 5000)
    with pytest.raises(FrameError, match="positive"):
        smart_resize(0, 100)
    with pytest.raises(FrameError, match="factor must be a positive integer"):
        frames_from({"frame": "qwen25_resized", "image_size": [100, 100], "factor": 0})
    with pytest.raises(FrameError, match="max_pixels must be a positive integer"):
        frames_from({"frame": "qwen25_resized", "image_size": [100, 100], "max_pixels": "1e6"})


def test_g9_qwen25_point_to_original():
    frame = Frame.make("qwen25_resized", [1920, 1080])
    assert frame.extent == (1932, 1092)
    assert frame.to_abs([966, 546]) == [960.0, 540.0]


def test_r8_qwen2_norm1000_box():
    assert Frame.make("norm1000", [1920, 1080]).to_abs([500, 500, 1000, 1000]) == [960, 540, 1920, 1080]


def test_r9_qwen25_box_with_explicit_model_size():
    frame = Frame.make("qwen25_resized", [1920, 1080], model_size=[1932, 1092])
    assert frame.to_abs([966, 546, 1932, 1092]) == [960, 540, 1920, 1080]


def test_recipe_pixels_change_the_frame():
    # The same answer means different original pixels under different processor settings.
    default = Frame.make("qwen25_resized", [1920, 1080])
    small = Frame.make("qwen25_resized", [1920, 1080], max_pixels=MAX_1280)
    assert small.extent == (1316, 728)
    assert small.to_abs([658, 364]) == pytest.approx([960, 540], abs=1)
    assert default.to_abs([658, 364])[0] < 700


def test_norm1_and_aliases():
    assert Frame.make("norm_0_1", [200, 100]).to_abs([0.5, 0.5]) == [100, 50]
    assert Frame.make("original", [200, 100]).name == "abs"
    assert Frame.make("abs_model", [200, 100]).name == "qwen25_resized"


def test_missing_frame_is_an_error_naming_the_option():
    with pytest.raises(FrameError, match="no 'frame' option"):
        frames_from({"image_size": [100, 100]})
    with pytest.raises(FrameError, match="unknown frame 'pixel'"):
        frames_from({"frame": "pixel"})
    with pytest.raises(FrameError, match="needs the original image_size"):
        frames_from({"frame": "norm1000"})
    with pytest.raises(FrameError, match="unknown option 'imagesize'"):
        frames_from({"frame": "abs", "imagesize": [1, 2]})
    with pytest.raises(FrameError, match="image_size must be"):
        frames_from({"frame": "abs", "image_size": [float("nan"), 2]})


def test_gold_frame_comes_from_gold_metadata():
    model, gold = frames_from({"frame": "abs", "image_size": [1000, 500]}, {"frame": "norm_0_1"})
    assert gold.to_abs([0.5, 0.5]) == [500, 250] and model.to_abs([7, 7]) == [7, 7]


def test_suspect_frame_flags_wrong_frames():
    norm1 = Frame.make("norm1", [1920, 1080])
    assert "far outside" in suspect_frame([120, 300, 500, 600], norm1)
    assert "within 0-1" in suspect_frame([0.1, 0.2, 0.4, 0.5], Frame.make("abs", [1920, 1080]))
    assert suspect_frame([0.1, 0.2, 0.4, 0.5], norm1) is None
    assert suspect_frame([100, 200, 300, 400], Frame.make("qwen25_resized", [1920, 1080])) is None


@settings(max_examples=300, deadline=None)
@given(frame=st.sampled_from(FRAMES),
       w=st.integers(28, 8000), h=st.integers(28, 8000),
       fx=st.floats(0, 1), fy=st.floats(0, 1), max_tokens=st.sampled_from([None, 1280]))
def test_round_trip_through_any_frame_within_one_pixel(frame, w, h, fx, fy, max_tokens):
    assume(max(w, h) / min(w, h) <= 200)
    f = Frame.make(frame, [w, h], max_pixels=None if max_tokens is None else max_tokens * 784)
    point = [fx * w, fy * h]
    back = f.to_abs(f.from_abs(point))
    assert abs(back[0] - point[0]) <= 1 and abs(back[1] - point[1]) <= 1
    # and a box written in the frame lands on the same original pixels
    box = [fx * w / 2, fy * h / 2, fx * w / 2 + w / 4, fy * h / 2 + h / 4]
    assert all(abs(a - b) <= 1 for a, b in zip(f.to_abs(f.from_abs(box)), box))


def test_frame_settings_from_gold_metadata_and_options_override():
    meta = {"image_size": [1920, 1080], "model_size": [1316, 728]}
    model, gold = frames_from({"frame": "qwen25_resized"}, meta)
    assert model.to_abs([658, 364]) == pytest.approx([960, 540], abs=1) and gold.name == "abs"
    model, _ = frames_from({"frame": "qwen25_resized", "model_size": None, "image_size": [3840, 2160]}, meta)
    assert model.image_size == (3840, 2160) and model.extent == (1316, 728)


def test_vision_verifiers_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, mmrl_verifiers.frames, mmrl_verifiers.grounding, mmrl_verifiers.gui, mmrl_verifiers.aepo; "
            "print(sorted(m for m in ('torch', 'torchvision', 'qwen_vl_utils', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
