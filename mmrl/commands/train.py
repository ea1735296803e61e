"""Train a model with RL on verifiable rewards.

  mmrl train recipes/quickstart.yaml
  mmrl train recipes/grpo.yaml algorithm.name=dapo rollout.n=8 training.steps=50
  mmrl train recipes/quickstart.yaml --dry-run      # print the resolved recipe and exit

Overrides are dotted keys with YAML values. With training.ranks > 1 (or --ranks N) the command
relaunches itself under the `deepspeed` launcher, one process per rank."""
from __future__ import annotations

import argparse
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. rollout.n=8")
    p.add_argument("--dry-run", action="store_true", help="print the resolved recipe and exit")
    p.add_argument("--ranks", type=int, help="number of local ranks (overrides training.ranks)")


def check_recipe(recipe) -> None:
    """Checks beyond the schema that need the registries (cheap: no model is loaded)."""
    from mmrl_verifiers import names as verifier_names

    from ..algorithms import build_algorithm
    from ..errors import UserError

    algo = build_algorithm(recipe.algorithm.name, max_new_tokens=recipe.rollout.max_new_tokens,
                           **recipe.algorithm.params)
    algo.check_group_size(recipe.rollout.n)
    known = set(verifier_names())
    for name in [recipe.data.default_verifier, *recipe.verifiers.options]:
        if name not in known:
            raise UserError(f"verifiers: unknown verifier {name!r}; known: {', '.join(sorted(known))}")


def run(args) -> int:
    from ..recipe import load_recipe
    from ..train.distributed import LAUNCHED, launch

    overrides = list(args.overrides) + ([f"training.ranks={args.ranks}"] if args.ranks else [])
    recipe = load_recipe(args.recipe, overrides)
    check_recipe(recipe)
    if args.dry_run:
        print(recipe.to_yaml(), end="")
        return 0
    if recipe.training.ranks > 1 and not os.environ.get(LAUNCHED):
        return launch(recipe.training.ranks, [args.recipe, *overrides], recipe.training.threads)
    from ..train import Trainer
    Trainer(recipe).run()
    return 0
