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
    ("training.zero_stage=4", "training.zero_stage: got 4; allowed: 0, 1, 2, 3, 'auto'"),
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
    assert "eps: unknown key; allowed:" in capsys.readouterr().err
    assert main(["train", path, "data.default_verifier=maths", "--dry-run"]) == 2
    assert "unknown verifier 'maths'" in capsys.readouterr().err


def test_missing_and_broken_recipe_files(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none.yaml"), "--dry-run"]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("rollout: [1, 2\n")
    assert main(["train", str(tmp_path / "bad.yaml"), "--dry-run"]) == 2
    assert "not valid YAML" in capsys.readouterr().err


# --- two sources for one thing: the user's latest word wins, or both keys are named -------------

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"


def test_a_data_train_override_replaces_the_recipes_generator(tmp_path, monkeypatch):
    (tmp_path / "mine.jsonl").write_text("\n".join(GSM8K.read_text().splitlines()[:3]) + "\n")
    monkeypatch.chdir(tmp_path)
    r = load_recipe(QUICKSTART, ["data.train=mine.jsonl"])
    assert r.data.generate is None
    assert r.data.train == str(tmp_path / "mine.jsonl")  # typed in the shell: relative to the shell's folder
    # and the reverse: a generator given on the command line replaces the recipe's files
    base = tmp_path / "files.yaml"
    base.write_text(f"base: {QUICKSTART}\ndata: {{train: mine.jsonl, held_out: mine.jsonl}}\n")
    assert load_recipe(base).data.generate is None  # the file layer's data.train dropped its base's generator
    r = load_recipe(base, ["data.generate={kind: count_shapes, train_size: 10}"])
    assert (r.data.train, r.data.held_out, r.data.generate.kind) == (None, None, "count_shapes")


def test_a_command_line_path_is_the_shells_file_even_when_the_recipe_folder_has_one(tmp_path, monkeypatch):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "train.jsonl").write_text('{"question": "recipe folder", "answer": "1"}\n')
    (tmp_path / "recipes" / "r.yaml").write_text("data: {train: train.jsonl}\n")
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "train.jsonl").write_text('{"question": "shell folder", "answer": "1"}\n')
    monkeypatch.chdir(tmp_path / "cwd")
    in_file = load_recipe(tmp_path / "recipes" / "r.yaml")
    assert in_file.resolve_path(in_file.data.train) == tmp_path / "recipes" / "train.jsonl"
    typed = load_recipe(tmp_path / "recipes" / "r.yaml", ["data.train=train.jsonl"])
    assert typed.resolve_path(typed.data.train) == tmp_path / "cwd" / "train.jsonl"


@pytest.mark.parametrize("text, expected", [
    ("data: {train: a.jsonl, generate: {task: chain_sum}}",
     "data.train and data.generate are both set: generate would replace your file"),
    ("data: {held_out: a.jsonl, generate: {task: chain_sum}}", "data.held_out and data.generate are both set"),
    ("data: {generate: {task: chain_sum, mix: [{name: a, task: chain_sum}]}}",
     "data.generate.mix and data.generate.task are both set"),
    ("data: {generate: {config: {min_terms: 2}, mix: [{name: a, task: chain_sum}]}}",
     "data.generate.mix and data.generate.config are both set: each mix part has its own config"),
    ("data: {generate: {kind: count_shapes, task: chain_sum}}",
     "data.generate.task is set but kind 'count_shapes' does not read it"),
    ("data: {prompt_template: 'Solve it.'}", "data.prompt_template: must contain {prompt} and no other field"),
    ("data: {prompt_template: '{prompt} in {unit}'}", "unknown: {unit}"),
])
def test_two_sources_in_one_file_are_refused_naming_both(tmp_path, text, expected):
    (tmp_path / "r.yaml").write_text(text + "\n")
    with pytest.raises(UserError) as e:
        load_recipe(tmp_path / "r.yaml")
    assert expected in str(e.value) and len(str(e.value).splitlines()) == 1


def test_a_sub_key_of_the_generator_does_not_silently_beat_the_users_file(tmp_path):
    """data.generate.train_size=10 on a recipe with data.train: ambiguous, so both keys are named."""
    (tmp_path / "r.yaml").write_text("data: {train: a.jsonl}\n")
    with pytest.raises(UserError, match="data.train and data.generate are both set"):
        load_recipe(tmp_path / "r.yaml", ["data.generate.train_size=10"])


def test_generator_kind_and_mix_overrides_drop_what_they_replace():
    r = load_recipe(QUICKSTART, ["data.generate.kind=count_shapes"])
    assert (r.data.generate.kind, r.data.generate.config) == ("count_shapes", {})  # chain_sum's config went too
    mix = load_recipe(QUICKSTART, ["data.generate.mix=[{name: easy, task: chain_sum}, {name: hard, task: products}]"])
    assert [m.task for m in mix.data.generate.mix] == ["chain_sum", "products"]
    assert "task" not in mix.data.generate.model_fields_set and mix.data.generate.config == {}
    same = load_recipe(QUICKSTART, ["data.generate.kind=reasoning_gym"])  # unchanged: nothing dropped
    assert same.data.generate.task == "chain_sum"


def test_ranks_flag_and_override_must_agree(capsys):
    assert main(["train", str(QUICKSTART), "training.ranks=2", "--ranks", "4", "--dry-run"]) == 2
    assert "--ranks 4 and training.ranks=2 disagree" in capsys.readouterr().err


def test_non_utf8_recipe_is_one_line(tmp_path, capsys):
    (tmp_path / "r.yaml").write_bytes("name: caf\u00e9\n".encode("latin-1"))
    assert main(["train", str(tmp_path / "r.yaml"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "r.yaml: not a UTF-8 text file" in err and len(err.strip().splitlines()) == 1
