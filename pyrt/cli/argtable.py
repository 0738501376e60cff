"""Flag tables and the small argv reader both CLIs use instead of click on their hot paths.

Importing click costs ~20 ms, more than runc's whole `run`. So a CLI declares a verb's flags once,
as Opt/Cmd records; parse()/bind() read argv against them without click, and click_params()
turns the same records into click options for --help and for whatever the table leaves to click.
Importing this module costs nothing beyond pyrt.errors.

Two reading modes. The default follows runc (Go's flag package): `--flag=true|false` for
booleans, any next word as a value, "-" and "" as ordinary words. strict=True reads only
what click would read identically and refuses the rest (so a caller can hand it to click):
no value on a flag, no value that looks like a flag, no empty word, no `--`, no `-x=value`.
"""
from __future__ import annotations

from pyrt.errors import UsageError


class Opt:
    """One flag. KIND: flag | str | int (>= 0) | choice | multi (repeatable str) | multi_int |
    bool (an explicit `--name=true|false`; a bare --name is not read: click makes its value optional)."""
    __slots__ = ("names", "dest", "kind", "default", "help", "choices")

    def __init__(self, names, dest, kind="str", default=None, help="", choices=()):
        self.names, self.dest, self.kind, self.default = names, dest, kind, default
        self.help, self.choices = help, choices


class Cmd:
    """A verb: its flags, positional arguments (name, required), an optional REST list
    (everything after the positionals) and the handler called with the parsed values."""
    __slots__ = ("name", "help", "opts", "args", "rest", "handler", "interspersed")

    def __init__(self, name, help, opts, args, handler=None, rest=None, interspersed=True):
        self.name, self.help, self.opts, self.args = name, help, opts, args
        self.handler, self.rest, self.interspersed = handler, rest, interspersed


def _convert(opt: Opt, value: str, where: str):
    if opt.kind in ("int", "multi_int"):
        try:
            n = int(value)
        except ValueError:
            raise _usage(where, f"{opt.names[0]} wants a number, not {value!r}") from None
        if n < 0:
            raise _usage(where, f"{opt.names[0]} must not be negative")
        return n
    if opt.kind == "choice" and value not in opt.choices:
        raise _usage(where, f"{opt.names[0]} must be one of {', '.join(opt.choices)}")
    if opt.kind == "bool":
        if value not in ("true", "false"):
            raise _usage(where, f"{opt.names[0]} must be true or false")
        return value == "true"
    return value


def parse(opts: list[Opt], argv: list[str], where: str, stop_at_positional: bool,
          strict: bool = False) -> tuple[dict, list[str]]:
    """Parse ARGV against OPTS: ({dest: value}, positionals). Positionals may be interleaved
    with flags unless STOP_AT_POSITIONAL; `--` ends the flags. STRICT: see the module docstring."""
    by_name = {n: o for o in opts for n in o.names}
    values = {o.dest: (list(o.default) if o.kind.startswith("multi") else o.default) for o in opts}
    pos: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if strict and not a:
            raise _usage(where, f"empty argument")
        if a == "--":
            if strict:
                raise _usage(where, f"-- is left to the full parser")
            pos.extend(argv[i:])
            break
        if not a.startswith("-") or (a == "-" and not strict) or (pos and stop_at_positional):
            pos.append(a)
            if stop_at_positional:
                pos.extend(argv[i:])
                break
            continue
        name, eq, inline = a.partition("=")
        opt = by_name.get(name)
        if opt is None:
            raise _usage(where, f"unknown option {name}")
        if opt.kind == "flag":
            if eq and strict:
                raise _usage(where, f"{name} takes no value")
            values[opt.dest] = inline.lower() in ("1", "true", "yes") if eq else True
            continue
        if strict and eq and not name.startswith("--"):
            raise _usage(where, f"{name}= is left to the full parser")  # click reads `-e=X` as the value "=X"
        if not eq:
            if opt.kind == "bool":
                raise _usage(where, f"{name} wants {name}=true or {name}=false")
            if i >= len(argv) or (strict and argv[i].startswith("-")):
                raise _usage(where, f"{name} needs a value")
            inline = argv[i]
            i += 1
        if strict and not inline:
            raise _usage(where, f"{name} needs a value")
        v = _convert(opt, inline, where)
        if opt.kind.startswith("multi"):
            values[opt.dest].append(v)
        else:
            values[opt.dest] = v
    return values, pos


def _usage(where: str, message: str) -> UsageError:
    """WHERE names the verb; global flags pass "" (the program's name is the prefix already)."""
    return UsageError(f"{where}: {message}" if where else message)


def split_globals(opts: list[Opt], argv: list[str], where: str, strict: bool = False) -> tuple[dict, list[str]]:
    """Read the global flags OPTS, which come before the verb: (values, [verb, its arguments...])."""
    for i, a in enumerate(argv):
        if not a.startswith("-"):
            prev = argv[i - 1] if i else ""
            takes_value = any(prev in o.names and o.kind != "flag" for o in opts) and "=" not in prev
            if not takes_value:
                g, _ = parse(opts, argv[:i], where, False, strict)
                return g, argv[i:]
    g, _ = parse(opts, argv, where, False, strict)
    return g, []


def bind(cmd: Cmd, argv: list[str], strict: bool = False) -> dict:
    """CMD's handler arguments read from ARGV (the words after the verb)."""
    values, pos = parse(cmd.opts, argv, cmd.name, not cmd.interspersed, strict)
    for name, required in cmd.args:
        if pos:
            values[name] = pos.pop(0)
        elif required:
            raise UsageError(f"{cmd.name}: missing argument {name.upper()}")
        else:
            values[name] = None
    if cmd.rest:
        values[cmd.rest] = pos
    elif pos:
        raise UsageError(f"{cmd.name}: unexpected argument {pos[0]!r}")
    return values


def click_params(opts: list[Opt]) -> list:
    """The same flags as click options (imports click: call it only off the hot path)."""
    import click
    out = []
    for o in opts:
        decl = [*o.names, o.dest]
        if o.kind == "flag":
            out.append(click.Option(decl, is_flag=True, default=o.default, help=o.help))
        elif o.kind == "bool":
            out.append(click.Option(decl, type=click.BOOL, is_flag=False, flag_value=True, default=o.default,
                                    help=o.help))
        elif o.kind.startswith("multi"):
            out.append(click.Option(decl, multiple=True, type=int if o.kind == "multi_int" else str, help=o.help))
        elif o.kind == "choice":
            out.append(click.Option(decl, type=click.Choice(o.choices), default=o.default, help=o.help))
        else:
            out.append(click.Option(decl, type=click.IntRange(0) if o.kind == "int" else str,
                                    default=o.default, help=o.help))
    return out


def click_command_params(cmd: Cmd) -> list:
    """CMD's flags and arguments as click parameters."""
    import click
    ps = click_params(cmd.opts) + [click.Argument([n], required=r) for n, r in cmd.args]
    if cmd.rest:
        ps.append(click.Argument([cmd.rest], nargs=-1, type=click.UNPROCESSED))
    return ps
