"""Train a model with RL on verifiable rewards.

  mmrl train recipes/quickstart.yaml
  mmrl train recipes/grpo.yaml algorithm.name=dapo rollout.n=8 training.steps=50
  mmrl train recipes/quickstart.yaml data.train=mine.jsonl   # your file replaces data.generate
  mmrl train recipes/quickstart.yaml --dry-run      # resolve the recipe, run the preflight, exit

Overrides are dotted keys with YAML values. Before anything heavy starts, a preflight checks the
data files, images, model folder (config and tokenizer, no weights), verifier names and options,
algorithm parameters and a few golds, and prints a summary table; any problem exits with code 2,
all problems listed. With training.ranks > 1 (or --ranks N) the command relaunches itself under the
`deepspeed` launcher, one process per rank."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from ..errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. rollout.n=8")
    p.add_argument("--dry-run", action="store_true",
                   help="print the resolved recipe, run the preflight checks and exit (nothing is trained)")
    p.add_argument("--ranks", type=int, help="number of local ranks (same as training.ranks=N)")


def _overrides(args) -> list[str]:
    """The command-line overrides; --ranks is training.ranks, and two different values are refused
    rather than one silently winning."""
    overrides = list(args.overrides)
    if args.ranks is not None:
        typed = [o.partition("=")[2] for o in overrides if o.partition("=")[0] == "training.ranks"]
        if typed and any(t.strip() != str(args.ranks) for t in typed):
            raise UserError(f"--ranks {args.ranks} and training.ranks={typed[-1]} disagree; give one")
        overrides.append(f"training.ranks={args.ranks}")
    return overrides


def preflight(recipe, dry_run: bool) -> None:
    """Print the preflight table; raise UserError (exit 2) listing every problem found. A dry run
    generates a preview of `data.generate` in a temporary folder; a real run writes the run's data
    folder, which the trainer then reuses."""
    from ..preflight import preflight_recipe

    with tempfile.TemporaryDirectory(prefix="mmrl-preflight-") as tmp:
        into = Path(tmp) if dry_run else recipe.run_dir / "data"
        report = preflight_recipe(recipe, into, preview=dry_run)
    report.print()
    report.raise_if_failed()


# = mmrl.train.distributed.LAUNCHED (set in the launcher's children), named here so the preflight
# runs before anything of the training stack is imported (a test keeps the two equal).
LAUNCHED = "MMRL_LAUNCHED"


def run(args) -> int:
    from ..recipe import load_recipe

    overrides = _overrides(args)
    recipe = load_recipe(args.recipe, overrides)
    if args.dry_run:
        print(recipe.to_yaml(), end="")
    launched = bool(os.environ.get(LAUNCHED))
    if not launched:  # a launched rank: its parent already checked, once for all ranks
        preflight(recipe, dry_run=args.dry_run)
    if args.dry_run:
        return 0
    from ..train.distributed import launch
    if recipe.training.ranks > 1 and not launched:
        return launch(recipe.training.ranks, [args.recipe, *overrides], recipe.training.cpu_threads)
    from ..train import Trainer
    Trainer(recipe).run()
    return 0
