"""The `mmrl` command. Each subcommand is a module in mmrl/commands with `add_arguments(parser)`
and `run(args) -> int`, imported only when used so `mmrl verify` never pays for torch.

Whatever a user types or points at ends in one line on stderr: a UserError (bad input, exit 2), an
interruption (exit 130), or any other exception as one line with a hint to rerun with --debug,
which shows the traceback (exit 1)."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from ._quiet import quiet_third_party
from .errors import Interrupted, UserError

COMMANDS = {
    "verify": "score responses with a verifier (one, or a jsonl batch)",
    "eval": "evaluate a model on a benchmark (pass@k, avg@k, maj@k), or compare two runs",
    "train": "RL-train a model from a recipe (YAML + dotted overrides)",
}
DEBUG_HELP = "show tracebacks and third-party start-up warnings"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage text is one --help away), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter  # the examples in the docstrings keep their lines
    parser = Parser(prog="mmrl", description="RL with verifiable rewards for LLMs and VLMs.", formatter_class=raw)
    parser.add_argument("--version", action="version", version=f"mmrl {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"mmrl.commands.{name}")
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                           formatter_class=raw)
        module.add_arguments(p)
        # also after the command (`mmrl verify ... --debug`); SUPPRESS keeps a `mmrl --debug verify`
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--debug" not in argv:  # before any third-party import: their start-up warnings are noise
        quiet_third_party()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # a usage error (one line, 2), --help or --version (0): a code, for callers too
        return e.code if isinstance(e.code, int) else 2
    name = f"mmrl {args.command}"
    try:
        code = args._run(args) or 0
        sys.stdout.flush()  # here, so a reader that went away (`| head`) is handled below
        return code
    except Interrupted as e:
        print(f"{name}: interrupted: {e}", file=sys.stderr)
        return e.exit_code
    except UserError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our stdout closed it (`mmrl ... | head`): not an error of ours. Point stdout at
        # /dev/null so the interpreter's final flush does not print a second traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool cut off the same way
    except FileNotFoundError as e:
        if args.debug:
            raise
        print(f"{name}: error: file not found: {e.filename or e}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug or an environment problem: one line, the traceback on request
        if args.debug:
            raise
        first = (str(e).strip().splitlines() or [""])[0][:300]
        print(f"{name}: unexpected error: {type(e).__name__}: {first} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
