"""`pyrt`: the docker-like command line. Arguments in, calls out, PyrtError -> one line + exit code.

The verbs are click commands in pyrt.cli.pyrt_commands. Importing click costs ~10-20 ms of a
~130 ms small pull, so the plainest spellings of `pyrt [--root DIR] pull [-q] [--tls-verify=true|
false] [--platform P] [--authfile F] REF` are read here without it; anything else (help, other
spellings, errors) goes to click, which stays the one definition of the verbs' flags.
"""
from __future__ import annotations

import os
import sys

from pyrt.errors import PyrtError, UsageError

DEFAULT_ROOT = "/var/lib/pyrt"
_done: dict = {}        # what a finished verb tells main() (exit_at_once)


def pull_image(root: str, reference: str, platform: str | None, tls_verify: bool | None,
               authfile: str | None, quiet: bool) -> None:
    """`pyrt pull`, for both parsers."""
    from pyrt.image import manifest, progress
    from pyrt.image.pull import PullOptions, pull as do_pull
    from pyrt.image.store import ImageStore
    opts = PullOptions(platform=manifest.parse_platform(platform) if platform else None,
                       tls_verify=tls_verify, authfile=authfile)
    record = do_pull(ImageStore(root), reference, opts, progress.for_stream(quiet))
    sys.stdout.write(record.id + "\n")
    sys.stdout.flush()
    _done["exit_at_once"] = True


def _plain_pull(argv: list[str]) -> dict | None:
    """pull_image's arguments if ARGV is a pull spelled plainly; None: let click read it."""
    if "PYRT_ROOT" in os.environ:
        return None
    root, i = DEFAULT_ROOT, 0
    while i < len(argv) and argv[i].startswith("--root"):
        if argv[i] == "--root" and i + 1 < len(argv):
            root, i = argv[i + 1], i + 2
        elif argv[i].startswith("--root="):
            root, i = argv[i][len("--root="):], i + 1
        else:
            return None
    if argv[i:i + 1] != ["pull"]:
        return None
    args = {"root": root, "platform": None, "tls_verify": None, "authfile": None, "quiet": False}
    refs = []
    rest = argv[i + 1:]
    j = 0
    while j < len(rest):
        a = rest[j]
        if a in ("-q", "--quiet"):
            args["quiet"] = True
        elif a in ("--tls-verify=true", "--tls-verify=false"):
            args["tls_verify"] = a.endswith("true")
        elif a.split("=", 1)[0] in ("--platform", "--authfile"):
            key, eq, value = a.partition("=")
            if not eq:
                if j + 1 >= len(rest) or rest[j + 1].startswith("-"):
                    return None
                j += 1
                value = rest[j]
            if not value:
                return None
            args[key[2:]] = value
        elif a.startswith("-") or a == "":
            return None
        else:
            refs.append(a)
        j += 1
    if len(refs) != 1 or not root:
        return None
    args["reference"] = refs[0]
    return args


def main(argv=None) -> None:
    args_in = sys.argv[1:] if argv is None else list(argv)
    try:
        plain = _plain_pull(args_in)
        if plain is not None:
            pull_image(**plain)
        else:
            from pyrt.cli.pyrt_commands import cli
            cli.main(args=args_in, prog_name="pyrt", standalone_mode=False)
        if argv is None and _done.get("exit_at_once"):
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
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    main()
