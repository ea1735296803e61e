"""GUI action verifier: one action schema for mobile, desktop and web (verifiers.md §4.6).

    {"action": "click", "point": [x, y]}            # x, y in the model's frame (frames.py)
    {"action": "type", "text": "new york"}          # also open_app, select
    {"action": "scroll", "direction": "down"}       # swipe is an alias
    {"action": "press", "key": "ctrl+c"}            # "enter" as an action = press/enter

accuracy = r_type · r_arg (point in box, text F1, direction, key chord); total = 0.9·acc +
0.1·format. Presets reproduce UI-R1, GUI-R1, InfiGUI-G1 (aepo.py) and a GUI-G² style Gaussian
reward. Answers are read with json / ast.literal_eval only (structured.py), never eval."""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

from . import geometry as geo
from .format import compose
from .frames import FrameError, frames_from, suspect_frame
from .structured import load_structured, numbers, think_answer
from .verdict import Verdict

POINT_ACTIONS = frozenset({"click", "long_press", "double_click", "right_click"})
TEXT_ACTIONS = frozenset({"type", "open_app", "select"})
ACTIONS = POINT_ACTIONS | TEXT_ACTIONS | {"scroll", "press", "press_back", "press_home", "wait", "complete"}
_ALIASES = {"tap": "click", "input_text": "type", "input": "type", "swipe": "scroll", "hotkey": "press",
            "key": "press", "navigate_back": "press_back", "back": "press_back", "home": "press_home",
            "terminate": "complete", "finish": "complete", "done": "complete"}
DIRECTIONS = ("up", "down", "left", "right")
_KEY_ALIASES = {"control": "ctrl", "return": "enter", "esc": "escape", "cmd": "meta", "command": "meta",
                "win": "meta", "super": "meta", "option": "alt", "del": "delete"}
_MODIFIERS = ("ctrl", "alt", "shift", "meta")
_NO_TEXT = {"", "no input text"}  # GUI-R1's placeholder for "no text"
_UI_R1_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


@dataclass(frozen=True)
class Action:
    action: str                        # canonical name (or the unknown name as given, lower-cased)
    point: list[float] | None = None   # [x, y]; the centre when a box was given
    box: list[float] | None = None     # [x1, y1, x2, y2] when the model (or gold) gave one
    text: str | None = None
    direction: str | None = None
    key: str | None = None


def canonical_action(name: str) -> str:
    name = "_".join(name.strip().lower().split())
    return _ALIASES.get(name, name)


def _field(d: dict, *keys: str) -> Any:
    return next((d[k] for k in keys if d.get(k) is not None), None)


def to_action(d: dict) -> Action:
    """An Action from a dict in any of the supported key conventions (UI-R1, GUI-R1, ours).
    Unusable values (NaN points, non-string text) become None, so they fail the format check."""
    name = d.get("action")
    name = canonical_action(name) if isinstance(name, str) else ""
    point = box = None
    for raw in (_field(d, "bbox", "bbox_2d", "gt_bbox"), _field(d, "point", "coordinate", "point_2d")):
        if isinstance(raw, (list, tuple)) and len(raw) == 4:  # UI-R1 golds: "coordinate": [x1,y1,x2,y2]
            box = box or numbers(raw, 4)
        elif raw is not None:
            point = point or numbers(raw, 2)
    if box is not None and geo.box_problem(box):
        box = None  # an inverted or empty box locates nothing
    if point == [-100.0, -100.0]:  # GUI-R1's "no location"
        point = None
    if point is None and box is not None:
        point = geo.centre(box)  # a box answer clicks its centre (GUI-G²)
    text = _field(d, "text", "input_text", "value")
    text = text if isinstance(text, str) and text.strip().lower() not in _NO_TEXT else None
    direction = _field(d, "direction")
    if direction is None and name == "scroll":
        direction = text  # GUI-R1 writes the scroll direction into input_text
    direction = direction.strip().lower() if isinstance(direction, str) else None
    key = _field(d, "key", "keys")
    if name == "enter":
        name, key = "press", "enter"
    return Action(name, point, box, text, direction if direction in DIRECTIONS else None,
                  key if isinstance(key, str) and key.strip() else None)


def parse_actions(region: str) -> list[Action] | None:
    """The actions in an answer: a JSON object or a list of them; None when it does not parse."""
    value = load_structured(region)
    items = value if isinstance(value, list) else [value]
    if value is None or not all(isinstance(item, dict) for item in items):
        return None
    return [to_action(item) for item in items]


def missing_argument(a: Action) -> str | None:
    """What the action lacks to be well-formed, or None."""
    if a.action in POINT_ACTIONS and a.point is None:
        return f"{a.action} needs a point [x, y] or a box [x1, y1, x2, y2] with x2 > x1, y2 > y1 (finite numbers)"
    if a.action in TEXT_ACTIONS and a.text is None:
        return f"{a.action} needs a text"
    if a.action == "scroll" and a.direction is None:
        return f"scroll needs a direction ({', '.join(DIRECTIONS)})"
    if a.action == "press" and a.key is None:
        return "press needs a key"
    return None


def _tokens(text: str) -> set[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return set(text.split())


def text_f1(pred: str, gold: str) -> float:
    """Token-set F1 after NFKC, lower-casing and punctuation removal (no substring shortcut)."""
    p, g = _tokens(pred), _tokens(gold)
    if not p or not g:
        return float(p == g)
    common = len(p & g)
    return 2 * common / (len(p) + len(g))


def key_chord(key: str) -> tuple[str, ...]:
    """"Ctrl+Shift+A" -> ("ctrl", "shift", "a"): aliases resolved, modifiers in a fixed order."""
    parts = [_KEY_ALIASES.get(k, k) for k in (p.strip().lower() for p in key.split("+")) if k]
    mods = sorted((k for k in parts if k in _MODIFIERS), key=_MODIFIERS.index)
    return tuple(mods + [k for k in parts if k not in _MODIFIERS])


@dataclass(frozen=True)
class Rules:
    coord_mode: str = "hit"        # "hit" | "gaussian"
    text_mode: str = "f1"          # "f1" | "thresh" | "exact"
    strict_box: bool = False       # GUI-R1: strictly inside
    radius_px: float | None = None # gold given as a point: hit within this distance
    strict_radius: bool = False    # GUI-R1: distance < radius
    alpha: float = 0.25            # Gaussian σ = alpha·size
    free_args: frozenset = frozenset()  # actions whose argument is not checked


PRESETS = {
    "default": Rules(),
    "gaussian": Rules(coord_mode="gaussian"),
    "ui_r1": Rules(free_args=frozenset(ACTIONS - {"click"})),
    "gui_r1": Rules(text_mode="thresh", strict_box=True, radius_px=140.0, strict_radius=True,
                    free_args=frozenset({"open_app", "long_press", "double_click", "right_click"})),
}


def argument_score(pred: Action, gold: Action, rules: Rules, image_size) -> float:
    """r_arg: how well the prediction's argument matches the gold's (both in original pixels)."""
    if gold.action in rules.free_args:
        return 1.0
    if gold.action in POINT_ACTIONS:
        p = pred.point
        if p is None or not geo.inside_image(p, image_size):
            return 0.0
        if gold.box is not None:
            if rules.coord_mode == "gaussian":
                point = geo.gaussian_point(p, gold.box, rules.alpha)
                return point if pred.box is None else (point + geo.gaussian_coverage(pred.box, gold.box, rules.alpha)) / 2
            return float(geo.in_box(p, gold.box, rules.strict_box))
        radius = rules.radius_px or (0.05 * max(image_size) if image_size else 140.0)
        d = geo.distance(p, gold.point)
        return float(d < radius if rules.strict_radius else d <= radius)
    if gold.action in TEXT_ACTIONS:
        f1 = text_f1(pred.text or "", gold.text)
        if rules.text_mode == "exact":
            return float(_tokens(pred.text or "") == _tokens(gold.text))
        return float(f1 >= 0.5) if rules.text_mode == "thresh" else f1
    if gold.action == "scroll":
        return float(pred.direction == gold.direction)
    if gold.action == "press":
        return float(pred.key is not None and key_chord(pred.key) == key_chord(gold.key))
    return 1.0


def _gold_action(gold: Any, rules: Rules) -> tuple[Action, dict]:
    """The gold action (a dict, JSON/literal text, or a one-element list as in UI-R1's
    `<answer>[{...}]</answer>` golds) and its metadata; raises ValueError naming the problem."""
    if isinstance(gold, str):
        gold = load_structured(gold)
    if isinstance(gold, list) and len(gold) == 1:
        gold = gold[0]
    if not isinstance(gold, dict):
        raise ValueError(f"GUI gold must be an action object, got {str(gold)[:80]}")
    action = to_action(gold)
    if action.action not in ACTIONS:
        raise ValueError(f"gold action {gold.get('action')!r} is not one of {', '.join(sorted(ACTIONS))}")
    problem = None if action.action in rules.free_args else missing_argument(action)
    if problem:
        raise ValueError(f"gold: {problem}")
    return action, gold


def verify_gui(response: str, gold: Any, preset: str = "default", coord_mode: str | None = None,
               text_mode: str | None = None, radius_px: float | None = None, alpha: float | None = None,
               think_mode: str = "required", answer_tag: str | None = "answer",
               truncated: bool = False, **frame_options) -> Verdict:
    """One GUI action against the gold action. Options override the preset's rules."""
    if preset == "infigui_aer":
        from .aepo import verify_aepo
        if truncated:  # AEPO scores a truncated answer like an invalid one (its spec's fail_score)
            return Verdict.fail("format_error", "the generation was truncated (finish_reason=length)", -1.0,
                                format=0.0, accuracy=0.0)
        return verify_aepo(response, gold, no_think=think_mode == "none", **frame_options)
    if preset not in PRESETS:
        return Verdict.unjudged("gold_error", f"preset {preset!r}: use {', '.join(PRESETS)} or infigui_aer")
    overrides = {k: v for k, v in dict(coord_mode=coord_mode, text_mode=text_mode, radius_px=radius_px,
                                       alpha=alpha).items() if v is not None}
    rules = replace(PRESETS[preset], **overrides)
    if rules.coord_mode not in ("hit", "gaussian") or rules.text_mode not in ("f1", "thresh", "exact"):
        return Verdict.unjudged("gold_error", "coord_mode must be hit|gaussian, text_mode f1|thresh|exact")
    try:
        gold_action, meta = _gold_action(gold, rules)
        model, gold_frame = frames_from(frame_options, meta)
        gold_action = _to_abs(gold_action, gold_frame)
        think_ok, region = think_answer(response, think_mode, answer_tag)
    except (ValueError, FrameError) as e:
        return Verdict.unjudged("gold_error", str(e))
    if preset in ("ui_r1", "gui_r1"):  # the anchors' own tag rule
        think_ok = bool(_UI_R1_FORMAT.fullmatch(response))
    anchor_fmt = float(think_ok and preset == "ui_r1")  # UI-R1's format is the tag regex alone
    actions = parse_actions(region)
    if not actions:
        return _verdict(preset, anchor_fmt, 0.0, 0.0, "format_error", "the answer is not an action object")
    if len(actions) > 1:
        return _verdict(preset, anchor_fmt, 0.0, 0.0, "format_error",
                        f"{len(actions)} actions given, exactly one is required")
    pred = actions[0]
    problem = missing_argument(pred)
    fmt = max(anchor_fmt, float(think_ok and problem is None))
    note = suspect_frame(pred.box or pred.point or [], model)
    pred = _to_abs(pred, model)
    r_type = float(pred.action == gold_action.action)  # the gold is always a known action
    r_arg = argument_score(pred, gold_action, rules, model.image_size) if r_type else 0.0
    if truncated:  # the pool's rule: finish_reason=length and not allow_truncated
        r_type = r_arg = 0.0
        problem = "the generation was truncated (finish_reason=length)"
    reason = problem or ("wrong action type" if not r_type else f"argument score {r_arg:.4g}")
    # A click is correct when it lands on the element; the Gaussian (GUI-G²) only shapes the reward
    lands = (r_type and geo.in_box(pred.point, gold_action.box, rules.strict_box)
             if rules.coord_mode == "gaussian" and gold_action.box is not None and pred.point is not None
             else r_type * r_arg >= 0.5)
    verdict = _verdict(preset, fmt, r_type, r_arg, "ok" if lands else "wrong",
                       reason + (f"; {note}" if note else ""), gold_action.action)
    verdict.extracted = str(pred)[:512]
    return verdict


def _to_abs(a: Action, frame) -> Action:
    return replace(a, point=frame.to_abs(a.point) if a.point else None,
                   box=frame.to_abs(a.box) if a.box else None)


def _verdict(preset, fmt, r_type, r_arg, status, reason, gold_name: str = "") -> Verdict:
    acc = r_type * r_arg
    if preset == "ui_r1":  # UI-R1: format + type + type·(coordinate if click else 1), range [0, 3]
        score = fmt + r_type + r_type * (r_arg if gold_name == "click" else 1.0)
    else:
        score = compose(acc, fmt, "gui_r1" if preset == "gui_r1" else "default")
    return Verdict(score, {"format": fmt, "type": r_type, "argument": r_arg, "accuracy": acc}, status, reason)
