"""Recipes: every shipped recipe loads and dry-runs; bad keys/values/overrides give one line per
problem naming the key's path and what is allowed."""
from pathlib import Path

import pytest

from mmrl.cli import main
from mmrl.errors import UserError
from mmrl.recipe import apply_overrides, load_recipe, parse_override, validate_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
ALGORITHMS = ["grpo", "dr_grpo", "dapo", "gspo", "papo", "dcpo", "ngrpo", "rloo", "reinforce_pp"]


def test_one_recipe_per_algorithm_and_a_quickstart():
    names = {p.stem for p in RECIPES}
    assert {"quickstart", *ALGORITHMS} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_dry_runs(path, capsys):
    assert main(["train", str(path), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    recipe = load_recipe(path)
    assert f"name: {recipe.name}" in printed and "algorithm:" in printed
    assert path.read_text().lstrip().startswith("#"), "each recipe starts with a comment saying what it trains"


@pytest.mark.parametrize("path", [p for p in RECIPES if p.stem in ALGORITHMS], ids=lambda p: p.stem)
def test_algorithm_recipes_use_their_algorithm(path):
    assert load_recipe(path).algorithm.name == path.stem


def test_overrides_reach_nested_keys():
    r = load_recipe(ROOT / "recipes" / "quickstart.yaml", ["algorithm.name=dapo", "rollout.n=4",
                                                             "algorithm.params.eps_high=0.28",
                                                             "verifiers.options.math.answer_format=boxed"])
    assert (r.algorithm.name, r.rollout.n, r.algorithm.params["eps_high"]) == ("dapo", 4, 0.28)
    assert r.verifiers.options["math"]["answer_format"] == "boxed"
    assert r.data.generate.task == "chain_sum"  # untouched siblings survive


@pytest.mark.parametrize("override, expected", [
    ("rollout.engine=vlm", "rollout.engine: got 'vlm'; allowed: 'vllm', 'hf'"),
    ("rollout.nn=3", "rollout.nn: unknown key; allowed: engine, prompts_per_step, n,"),
    ("training.zero_stage=4", "training.zero_stage: got 4; allowed: 0, 1, 2, 3"),
    ("rollout.n=0", "rollout.n: Input should be greater than or equal to 1 (got 0)"),
    ("data.on_bad_image=ignore", "data.on_bad_image: got 'ignore'; allowed: 'fail', 'skip'"),
    ("training.lr=fast", "training.lr: Input should be a valid number"),
    ("bogus=1", "bogus: unknown key; allowed: name, output_dir, backbone,"),
])
def test_bad_values_name_the_path_and_allowed_values(override, expected):
    with pytest.raises(UserError) as e:
        load_recipe(ROOT / "recipes" / "quickstart.yaml", [override])
    assert expected in str(e.value)
    assert str(e.value).startswith(str(ROOT / "recipes" / "quickstart.yaml"))


def test_every_error_is_reported_one_per_line():
    with pytest.raises(UserError) as e:
        validate_recipe(apply_overrides({}, ["rollout.n=-1", "training.steps=0", "logging.colour=1"]))
    lines = str(e.value).splitlines()
    assert len(lines) == 3 and all(line.startswith("recipe: ") for line in lines)


@pytest.mark.parametrize("bad", ["rollout.n", "=3", "rollout..n=3", "a.b=[1,"])
def test_malformed_overrides(bad):
    with pytest.raises(UserError, match="override"):
        parse_override(bad)


def test_override_values_are_yaml():
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("x=null") == (["x"], None)
    assert load_recipe(ROOT / "recipes" / "quickstart.yaml", ["training.lr=1e-6"]).training.lr == 1e-6


def test_registry_checks_on_dry_run(capsys):
    path = str(ROOT / "recipes" / "quickstart.yaml")
    assert main(["train", path, "algorithm.name=ppo", "--dry-run"]) == 2
    assert "unknown algorithm 'ppo'; valid:" in capsys.readouterr().err
    assert main(["train", path, "algorithm.params.eps=0.1", "--dry-run"]) == 2
    assert "unknown parameter 'eps'" in capsys.readouterr().err
    assert main(["train", path, "data.default_verifier=maths", "--dry-run"]) == 2
    assert "unknown verifier 'maths'" in capsys.readouterr().err


def test_missing_and_broken_recipe_files(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none.yaml"), "--dry-run"]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("rollout: [1, 2\n")
    assert main(["train", str(tmp_path / "bad.yaml"), "--dry-run"]) == 2
    assert "not valid YAML" in capsys.readouterr().err
