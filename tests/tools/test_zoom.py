"""The zoom tool crops exactly the asked pixels of the input image and enlarges them; bad boxes
become tool turns that say what is wrong."""
import numpy as np
import pytest
from PIL import Image

from mmrl.tools.calls import ToolCall
from mmrl.tools.registry import ToolContext
from mmrl.tools.runner import execute


def coded_image(w=200, h=120):
    """Every pixel encodes its own position: R = x, G = y, B = 7."""
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = np.arange(w)[None, :]
    a[..., 1] = np.arange(h)[:, None]
    a[..., 2] = 7
    return Image.fromarray(a)


def zoom(arguments, images=None, **options):
    c = ToolContext([coded_image()] if images is None else images, 4.0, 1000, options)
    return execute(ToolCall("zoom", arguments), ["zoom"], {"zoom": c}, 1000)


def test_crop_is_exactly_the_box_pixels():
    r = zoom({"box": [30, 10, 70, 50]}, max_scale=1)
    a = np.asarray(r.images[0])
    assert r.error is None and a.shape == (40, 40, 3)
    assert (a[..., 0] == np.arange(30, 70)[None, :]).all() and (a[..., 1] == np.arange(10, 50)[:, None]).all()


def test_zoom_enlarges_the_crop_and_keeps_its_content():
    r = zoom({"bbox_2d": [100, 40, 140, 80], "image": 0}, target_pixels=160 * 160, max_scale=8)
    big = r.images[0]
    assert big.size == (160, 160) and "enlarged 4x to 160x160" in r.text
    small = np.asarray(big.resize((40, 40), Image.Resampling.BOX)).astype(int)
    assert np.abs(small[..., 0] - np.arange(100, 140)[None, :]).max() <= 1
    assert np.abs(small[..., 1] - np.arange(40, 80)[:, None]).max() <= 1


def test_scale_is_capped():
    r = zoom({"box": [0, 0, 10, 10]}, target_pixels=10 ** 6, max_scale=3)
    assert r.images[0].size == (30, 30)


@pytest.mark.parametrize("arguments,says", [
    ({"box": [150, 10, 250, 50]}, "outside image 0, which is 200x120 pixels"),
    ({"box": [-1, 0, 50, 50]}, "outside image 0"),
    ({"box": [50, 50, 40, 60]}, "x1 < x2 and y1 < y2"),
    ({"box": [10, 10, 12, 12]}, "at least 4 pixels"),
    ({"box": [1, 2, 3]}, "four numbers"),
    ({"box": ["a", 1, 2, 3]}, "four numbers"),
    ({"box": [0, 0, float("nan"), 3]}, "four numbers"),
    ({}, "four numbers"),
    ({"box": [0, 0, 50, 50], "image": 1}, '"image" must be an index from 0 to 0'),
])
def test_bad_boxes_say_what_is_wrong(arguments, says):
    r = zoom(arguments)
    assert r.error == "bad_arguments" and says in r.text and not r.images


def test_no_image_to_zoom_into():
    r = zoom({"box": [0, 0, 5, 5]}, images=[])
    assert r.error == "bad_arguments" and "no image" in r.text
