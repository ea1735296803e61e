"""Rendered scenes with exact ground truth, for teaching `smolvl` to see and for multimodal RL.

draw.py   shapes and text drawn with PIL (boxes read from the painted pixels)
gui.py    GUI screens laid out and photographed by headless chromium (boxes from the DOM)
items.py  questions, golds in the verifiers' formats, captions; the train/held-out split rule
build.py  whole splits, in memory or on disk (`python -m mmrl.scenes.build`)

See docs/scenes.md."""
