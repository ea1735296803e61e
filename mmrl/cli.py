"""The `mmrl` command. Each subcommand is a module in mmrl/commands with `add_arguments(parser)`
and `run(args) -> int`, imported only when used so `mmrl verify` never pays for torch."""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UserError

COMMANDS = {
    "verify": "score responses with a verifier (one, or a jsonl batch)",
    "eval": "evaluate a model on a benchmark (pass@k, avg@k, maj@k), or compare two runs",
    "train": "RL-train a model from a recipe (YAML + dotted overrides)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmrl", description="RL with verifiable rewards for LLMs and VLMs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"mmrl.commands.{name}")
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args._run(args) or 0
    except UserError as e:
        print(f"mmrl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"mmrl {args.command}: error: file not found: {e.filename or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mmrl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
