"""The docs stay true to the code: the recipe-key table of docs/training.md lists every key of the
schema in mmrl/recipe.py with its default (and no key the schema lacks), and the README's recipe
walk-through is recipes/quickstart.yaml."""
import json
import re
import types
import typing
from pathlib import Path

import pytest
import yaml

from pydantic import BaseModel

from mmrl.recipe import Recipe, read_yaml

ROOT = Path(__file__).resolve().parents[2]


def _is_model(t) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _section_type(annotation):
    """A section (a pydantic model, wherever it is defined), or the one inside `X | None`; else None."""
    if _is_model(annotation):
        return annotation, False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) == 1 and _is_model(inner[0]):
            return inner[0], True
    return None, False


def schema_defaults(model=Recipe, prefix: str = "") -> dict[str, object]:
    """Every recipe key as a dotted path -> its default. A section is not a key itself, except an
    optional one (`data.generate`), which is both a key (default none) and a section."""
    out = {}
    for name, field in model.model_fields.items():
        sub, optional = _section_type(field.annotation)
        if sub is None or optional:
            out[prefix + name] = field.default
        if sub is not None:
            out |= schema_defaults(sub, f"{prefix}{name}.")
    return out


def documented() -> dict[str, str]:
    """The table in docs/training.md: dotted key -> its default cell (one value per key)."""
    text = (ROOT / "docs" / "training.md").read_text()
    table = text[text.index("| key | default | meaning |"):].split("\n\n")[0].splitlines()[2:]
    out, section = {}, ""
    for row in table:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        header = re.fullmatch(r"\*\*([\w.]+)\*\*", cells[0])
        if header:
            section = header.group(1) + "."
            continue
        keys = re.findall(r"`([\w]+)`", cells[0])
        assert keys and ", ".join(f"`{k}`" for k in keys) == cells[0], f"key cell {cells[0]!r}"
        defaults = [d.strip() for d in cells[1].split(", ")] if len(keys) > 1 else [cells[1]]
        if len(defaults) == 1:
            defaults *= len(keys)  # one default shared by all the row's keys
        assert len(defaults) == len(keys), f"row {cells[0]}: {len(keys)} keys, defaults {cells[1]!r}"
        for key, default in zip(keys, defaults):
            assert section + key not in out, f"{section + key} documented twice"
            out[section + key] = default
    return out


def matches(default: object, cell: str) -> bool:
    if default is None:
        return cell in ("–", "none", "per verifier")
    if isinstance(default, bool):
        return cell == f"`{str(default).lower()}`"
    if isinstance(default, (int, float)):
        try:
            return float(cell) == default
        except ValueError:
            return False
    if isinstance(default, str):
        return cell in (f"`{default}`", default, f"`{json.dumps(default)}`")  # "" reads `""`
    return cell == f"`{json.dumps(default)}`"  # {} or []


def test_the_recipe_key_table_lists_every_schema_key_and_nothing_else():
    schema, docs = schema_defaults(), documented()
    assert sorted(set(schema) - set(docs)) == [], "schema keys missing from docs/training.md"
    assert sorted(set(docs) - set(schema)) == [], "docs/training.md lists keys the schema does not have"


def test_the_recipe_key_table_gives_each_default():
    schema, docs = schema_defaults(), documented()
    schema.pop("name")  # "file name": read_yaml names a recipe after its file
    wrong = {k: (schema[k], docs[k]) for k in schema if k in docs and not matches(schema[k], docs[k])}  # missing: above
    assert wrong == {}


def test_the_readme_walk_through_is_the_quickstart_recipe():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A recipe, walked through"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    assert yaml.safe_load(block) == read_yaml(ROOT / "recipes" / "quickstart.yaml")


@pytest.mark.parametrize("default, cell, ok", [(None, "–", True), (True, "`true`", True), (1e-6, "1e-6", True),
                                               (2, "3", False), ("auto", "`auto`", True), ({}, "`{}`", True),
                                               ([], "`[]`", True), ("x", "`y`", False), ("", "`\"\"`", True)])
def test_default_cells_compare_by_value(default, cell, ok):
    assert matches(default, cell) is ok
