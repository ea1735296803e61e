"""GUI screens: HTML pages with a menu bar, fields, buttons and icons, laid out by a real browser
(Debian's headless `chromium`) and photographed; each element's box is read from the page's DOM.

Many screens go into one page (one fixed-size <div> each, stacked), and chromium runs twice on it:
once for the screenshot, once with --dump-dom, where an inline script has written every named
element's getBoundingClientRect(), relative to its screen, into the page. Boxes are rounded outwards
to whole pixels of the saved screenshot (x2, y2 exclusive). Both runs use the same window size,
device scale 1 and fonts, so the layout is the same (tests check the boxes against the pixels)."""
from __future__ import annotations

import html
import json
import math
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .items import coords_wording

SIZE = (336, 252)      # multiples of 28 within smolvl's bounds: unresized model input (12x9 tokens)
PER_PAGE = 24          # screens per chromium page
MENUS = ("File", "Edit", "View", "Insert", "Tools", "Help", "Window")
FIELDS = ("Name", "Email", "Password", "City", "Phone", "Address", "Username", "Comment")
BUTTONS = ("Save", "Cancel", "Submit", "Delete", "Next", "Back", "Login", "Search", "Upload", "Reset",
           "Send", "Open", "Close", "Print")
ICONS = {"settings": "\u2699", "close": "\u2715", "home": "\u2302", "favourite": "\u2605", "like": "\u2665",
         "menu": "\u2630", "music": "\u266b", "mail": "\u2709"}
TITLES = ("Account", "Settings", "New order", "Profile", "Contact us", "Sign in", "Upload file", "Search")
PAGE_BGS = ("#f4f4f8", "#fdf6e3", "#eef6ee", "#f0f4fa", "#faf0f0", "#ffffff")
ACCENTS = ("#c0392b", "#2e7d32", "#1f5fbf", "#8e44ad", "#d35400", "#00796b")
KIND_WORD = {"button": "button", "field": "field", "icon": "icon", "menu": "menu"}


class BrowserError(RuntimeError):
    """chromium is missing or failed (the message says how to fix it)."""


@dataclass(frozen=True)
class Element:
    kind: str      # button | field | icon | menu
    name: str      # the visible label, field label, icon name or menu title
    box: tuple[int, int, int, int] | None = None   # in screenshot pixels, filled in by render()


@dataclass(frozen=True)
class Screen:
    spec: dict                 # everything that defines the page (hashed for the splits)
    elements: tuple[Element, ...]


def make_spec(rng: random.Random) -> dict:
    """A random screen: title, menus, fields, buttons, icons, colours and layout choices."""
    return {"title": rng.choice(TITLES), "bg": rng.choice(PAGE_BGS), "accent": rng.choice(ACCENTS),
            "menus": rng.sample(MENUS, rng.randint(2, 4)), "fields": rng.sample(FIELDS, rng.randint(1, 3)),
            "buttons": rng.sample(BUTTONS, rng.randint(2, 4)), "icons": rng.sample(sorted(ICONS), rng.randint(1, 3)),
            "align": rng.choice(("flex-start", "center", "flex-end", "space-between")),
            "icons_first": rng.random() < 0.5, "field_width": rng.choice((120, 150, 180)),
            "font_px": rng.choice((12, 13, 14)), "top": rng.choice((0, 12, 24, 36, 48))}


def elements_of(spec: dict) -> list[Element]:
    return ([Element("menu", m) for m in spec["menus"]] + [Element("field", f) for f in spec["fields"]]
            + [Element("button", b) for b in spec["buttons"]] + [Element("icon", i) for i in spec["icons"]])


def _screen_html(spec: dict, k: int) -> str:
    e = html.escape
    menus = "".join(f'<span class="m" data-name="menu:{e(m)}">{e(m)}</span>' for m in spec["menus"])
    icons = "".join(f'<span class="i" data-name="icon:{e(i)}">{ICONS[i]}</span>' for i in spec["icons"])
    fields = "".join(f'<div class="f"><label>{e(f)}</label><span class="in" data-name="field:{e(f)}" '
                     f'style="width:{spec["field_width"]}px"></span></div>' for f in spec["fields"])
    buttons = "".join(f'<span class="b" data-name="button:{e(b)}" style="background:{spec["accent"]}">{e(b)}</span>'
                      for b in spec["buttons"])
    head = f'<div class="h">{icons if spec["icons_first"] else ""}<b>{e(spec["title"])}</b>' \
           f'{"" if spec["icons_first"] else icons}</div>'
    return (f'<div class="s" id="s{k}" style="background:{spec["bg"]};font-size:{spec["font_px"]}px">'
            f'<div class="mb">{menus}</div>{head}<div class="fs" style="margin-top:{spec["top"]}px">{fields}</div>'
            f'<div class="bs" style="justify-content:{spec["align"]}">{buttons}</div></div>')


_CSS = f"""body{{margin:0}} .s{{position:relative;width:{SIZE[0]}px;height:{SIZE[1]}px;overflow:hidden;
font-family:'DejaVu Sans',sans-serif;color:#222}} .mb{{background:#2d3a4a;padding:3px;display:flex;gap:4px}}
.m{{background:#44556b;color:#fff;padding:2px 7px}} .h{{display:flex;gap:6px;align-items:center;padding:6px 8px}}
.i{{background:#c9d3df;padding:1px 5px;font-size:15px}} .fs{{padding:0 8px}}
.f{{display:flex;align-items:center;gap:8px;margin:5px 0}} label{{width:76px}}
.in{{display:inline-block;height:18px;background:#fff;border:1px solid #8a8a8a}}
.bs{{display:flex;gap:8px;padding:8px;flex-wrap:wrap}} .b{{color:#fff;padding:5px 10px;border-radius:2px}}"""

_JS = """const out=[];document.querySelectorAll('.s').forEach(s=>{const o=s.getBoundingClientRect();const els=[];
s.querySelectorAll('[data-name]').forEach(e=>{const r=e.getBoundingClientRect();
els.push([e.dataset.name,r.left-o.left,r.top-o.top,r.right-o.left,r.bottom-o.top])});out.push(els)});
document.getElementById('boxes').textContent=JSON.stringify(out);"""


def page_html(specs: list[dict]) -> str:
    screens = "".join(_screen_html(s, k) for k, s in enumerate(specs))
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>{_CSS}</style></head><body>{screens}"
            f"<pre id='boxes'></pre><script>{_JS}</script></body></html>")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError("GUI scenes need Debian's chromium (headless): run scripts/setup.sh, "
                       "or apt-get install chromium")


def _run(args: list[str], page: Path, workdir: Path, timeout: float = 120) -> str:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
           "--force-device-scale-factor=1", "--font-render-hinting=none", "--no-first-run",
           f"--user-data-dir={workdir / 'profile'}", *args, page.as_uri()]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir)
    except subprocess.TimeoutExpired:
        raise BrowserError(f"chromium did not finish within {timeout:.0f} s: {' '.join(cmd[:3])} ...") from None
    if done.returncode != 0:
        raise BrowserError(f"chromium exited with {done.returncode}: {done.stderr.strip()[-300:]}")
    return done.stdout


def render(specs: list[dict]) -> list[tuple[Image.Image, list[Element]]]:
    """Each spec's screenshot (SIZE, RGB) and its elements with boxes in screenshot pixels."""
    out = []
    for start in range(0, len(specs), PER_PAGE):
        out += _render_page(specs[start:start + PER_PAGE])
    return out


def _render_page(specs: list[dict]) -> list[tuple[Image.Image, list[Element]]]:
    w, h = SIZE[0], SIZE[1] * len(specs)
    with tempfile.TemporaryDirectory(prefix="mmrl-gui-") as tmp:
        tmp = Path(tmp)
        page = tmp / "page.html"
        page.write_text(page_html(specs), encoding="utf-8")
        window = f"--window-size={w},{h}"
        _run([window, f"--screenshot={tmp / 'shot.png'}"], page, tmp)
        dom = _run([window, "--dump-dom"], page, tmp)
        with Image.open(tmp / "shot.png") as shot:
            shot = shot.convert("RGB")
    if shot.size != (w, h):
        raise BrowserError(f"chromium screenshot is {shot.size[0]}x{shot.size[1]}, expected {w}x{h}")
    start = dom.find("<pre id=\"boxes\">")
    end = dom.find("</pre>", start)
    if start < 0 or end < 0:
        raise BrowserError("chromium's DOM dump holds no element boxes (did the page script run?)")
    pages = json.loads(html.unescape(dom[start + len('<pre id="boxes">'):end]))
    out = []
    for k, (spec, found) in enumerate(zip(specs, pages)):
        boxes = {name: _outward(rect) for name, *rect in found}
        elements = [Element(e.kind, e.name, boxes[f"{e.kind}:{e.name}"]) for e in elements_of(spec)]
        out.append((shot.crop((0, k * SIZE[1], w, (k + 1) * SIZE[1])), elements))
    return out


def _outward(rect: list[float]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = rect
    return math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2)


def visible(e: Element) -> bool:
    """Wholly inside the screen (a wrapped row could fall off its bottom edge)."""
    x1, y1, x2, y2 = e.box
    return 0 <= x1 < x2 <= SIZE[0] and 0 <= y1 < y2 <= SIZE[1]


def instruction(e: Element, candidates: bool = False, coords: str = "pixels") -> str:
    """The click instruction; candidates: AEPO's multi-answer form (InfiGUI-G1), several points, best first;
    coords: pixels or fractions (items.coords_wording)."""
    what = {"button": f"the {e.name} button", "field": f"the {e.name} field", "icon": f"the {e.name} icon",
            "menu": f"the {e.name} menu"}[e.kind]
    where = coords_wording(coords, "screenshot", SIZE)
    if candidates:
        return (f"Click {what}. Answer with one to three candidate click points, the most likely first, {where}, "
                'as <answer>[{"point_2d": [x, y]}, ...]</answer>.')
    return f'Click {what}. Answer with the click point {where} as <answer>{{"action": "click", "point": [x, y]}}</answer>.'


def click_reference(point: list, candidates: bool = False) -> str:
    """The answer its verifier scores fully: a click at `point` (candidates: AEPO's list of one point)."""
    answer = f'[{{"point_2d": {point}}}]' if candidates else f'{{"action": "click", "point": {point}}}'
    return f"<answer>{answer}</answer>"


def caption(spec: dict) -> str:
    return (f'A "{spec["title"]}" window. Menu bar: {", ".join(spec["menus"])}. '
            f'Icons: {", ".join(spec["icons"])}. Fields: {", ".join(spec["fields"])}. '
            f'Buttons: {", ".join(spec["buttons"])}.')
