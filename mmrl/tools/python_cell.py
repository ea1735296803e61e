"""Runs inside the sandbox (shipped as a file, never imported by mmrl): replays the response's
earlier successful calls with their output suppressed, then runs the new call notebook-style
(a final bare expression is printed). Exit code 1 = the new call raised."""
import ast
import contextlib
import json
import linecache
import os
import sys
import traceback

NS = {"__name__": "__main__"}
HERE = "_cell.py"  # this file's code name (it is exec'd from -c, so no __file__)


def run(source, name, show):
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)  # tracebacks show the lines
    tree = ast.parse(source, name)
    last = tree.body.pop() if show and tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, name, "exec"), NS)
    if last is not None:
        value = eval(compile(ast.Expression(last.value), name, "eval"), NS)
        if value is not None:
            print(repr(value))


def main():
    cells = json.load(open("_cells.json"))
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        for i, source in enumerate(cells["history"]):
            try:
                run(source, f"<call {i + 1}>", False)
            except BaseException as e:  # it succeeded before: say so, keep going
                sys.__stderr__.write(f"(note: replaying earlier call {i + 1} failed this time: {e!r})\n")
    try:
        run(cells["code"], f"<call {len(cells['history']) + 1}>", True)
    except SystemExit:
        sys.stdout.flush()
        raise
    except BaseException as e:
        sys.stdout.flush()
        tb = e.__traceback__.tb_next if e.__traceback__ else None  # drop this file's frames
        while tb is not None and tb.tb_frame.f_code.co_filename == HERE:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)
        sys.exit(1)


main()
