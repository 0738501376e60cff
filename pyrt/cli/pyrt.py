"""`pyrt`: the docker-like command line. Arguments in, calls out, PyrtError -> one line + exit code.

The verbs are click commands, one module per group of verbs, registered in pyrt.cli.pyrt_commands.
Importing click costs ~10-20 ms of a ~130 ms small pull, so the plainest spellings of `pyrt
[--root DIR] pull [-q] [--tls-verify=true|false] [--platform P] [--authfile F] REF` are read here
without it, by pyrt.cli.argtable over the PULL table of pyrt.cli.image_pull (from which
pyrt_images also builds pull's click options); anything else (help, other spellings, errors)
goes to click. `pyrt run` has the same kind of fast path (pyrt.cli.engine_run).
"""
from __future__ import annotations

import os
import sys

from pyrt.cli.argtable import Opt, bind, split_globals
from pyrt.cli.image_pull import DEFAULT_ROOT, EXIT_AT_ONCE, PULL, pull_image
from pyrt.errors import PyrtError, UsageError


# The only global the fast path reads; pyrt_commands' group keeps its own --root (help, PYRT_ROOT).
_FAST_GLOBALS = [Opt(("--root",), "root", default=DEFAULT_ROOT)]

def _plain_pull(argv: list[str]) -> dict | None:
    """pull_image's arguments if ARGV is a pull spelled plainly; None: let click read it."""
    if "PYRT_ROOT" in os.environ:
        return None
    try:
        # strict: only what click reads the same way; its messages stay the ones users see
        g, rest = split_globals(_FAST_GLOBALS, argv, "pyrt", strict=True)
        if rest[:1] != ["pull"]:
            return None
        return {"root": g["root"], **bind(PULL, rest[1:], strict=True)}
    except UsageError:
        return None


def _plain_run(argv: list[str]):
    """run_container's arguments if ARGV is a `run` spelled plainly (pyrt.cli.engine_run); else None."""
    if "run" not in argv:
        return None
    from pyrt.cli.engine_run import plain_run
    return plain_run(argv)


def main(argv=None) -> None:
    args_in = sys.argv[1:] if argv is None else list(argv)
    try:
        plain = _plain_pull(args_in)
        fast_run = None if plain is not None else _plain_run(args_in)
        done = None
        if plain is not None:
            pull_image(**plain)
            done = EXIT_AT_ONCE
        elif fast_run is not None:
            from pyrt.cli.engine_run import run_container
            run_container(*fast_run)
        else:
            from pyrt.cli.pyrt_commands import cli
            done = cli.main(args=args_in, prog_name="pyrt", standalone_mode=False)
        if argv is None and done == EXIT_AT_ONCE:
            # Everything is on disk and the output written: skip the interpreter's teardown
            # (~8 ms of a ~130 ms small pull). Only verbs whose work is all done ask for it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
    except PyrtError as e:
        _say(f"pyrt: {e}")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _say("pyrt: interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as e:
        # What the domain code could not explain (a full disk, an unusable --root): still one line.
        where = f": {e.filename}" if e.filename else ""
        _say(f"pyrt: {e.strerror or e}{where}")
        sys.exit(1)
    except Exception as e:
        click = sys.modules.get("click")
        if click is None:
            raise
        if isinstance(e, click.exceptions.Abort):
            _say("pyrt: interrupted")
            sys.exit(130)
        if isinstance(e, click.ClickException):
            _say(f"pyrt: {e.format_message()}")
            sys.exit(UsageError.exit_code)
        raise


def _say(line: str) -> None:
    from pyrt.errors import one_line
    sys.stderr.write(one_line(line) + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    main()
