"""pyrt's verbs: one module per group of verbs, registered in one place (pyrt.cli.pyrt_commands)."""
import importlib
import subprocess
import sys

from pyrt.cli.pyrt_commands import VERB_MODULES, cli


def test_every_verb_is_in_exactly_one_module_and_the_group_lists_them_all():
    seen: dict[str, str] = {}
    for modname in VERB_MODULES:
        for cmd in importlib.import_module(modname).COMMANDS:
            assert cmd.name not in seen, f"{cmd.name} in {seen.get(cmd.name)} and {modname}"
            seen[cmd.name] = modname
    ctx = cli.make_context("pyrt", ["images"])
    assert sorted(cli.list_commands(ctx)) == sorted(seen)
    assert {"pull", "images", "save", "run", "ps", "network"} <= set(seen)


def test_a_verb_loads_only_the_modules_up_to_its_own():
    """`pyrt pull` (click's reading) imports the image verbs, not the engine's."""
    code = ("from pyrt.cli.pyrt_commands import cli; import sys; "
            "ctx = cli.make_context('pyrt', ['pull', 'x']); cli.get_command(ctx, 'pull'); "
            "print(sorted(m for m in sys.modules if m.startswith('pyrt.cli.pyrt_')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['pyrt.cli.pyrt_commands', 'pyrt.cli.pyrt_images']"
