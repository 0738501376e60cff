"""pyrt.cli.argtable: the one table-driven argv reader behind pyrt-runc and `pyrt pull`'s fast path.

The tables below pin what both CLIs accepted and refused (with the exact messages) before the
two hand-written readers were merged into argtable; they were generated from the old code.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from pyrt.cli import argtable, pyrt as pyrt_cli, pyrt_runc as runc_cli
from pyrt.cli.argtable import Cmd, Opt
from pyrt.errors import UsageError
from tests.support.bundle import PYRT_RUNC, VENV_BIN


def _runc_values(verb, argv):
    """What VERB's handler gets for ARGV (the words after the verb), or 'E: message'."""
    try:
        return argtable.bind(runc_cli.COMMANDS[verb], list(argv))
    except UsageError as e:
        assert e.exit_code == 2
        return f"E: {e}"


def _changed(verb, got):
    """GOT as the handler arguments that differ from the verb's plain call: 'k=v ...' or '-'."""
    if isinstance(got, str):
        return got
    cmd = runc_cli.COMMANDS[verb]
    plain = _runc_values(verb, ["c1"] if any(r for _, r in cmd.args) else [])
    return " ".join(f"{k}={v!r}" for k, v in got.items() if v != plain.get(k)) or "-"


# (verb, argv after the verb, handler arguments that differ from `VERB [c1]`, or 'E: message')
RUNC = [
    ('create', ['c1'], '-'),
    ('create', ['c1', 'extra'], "E: create: unexpected argument 'extra'"),
    ('create', ['--bogus', 'c1'], 'E: create: unknown option --bogus'),
    ('create', ['--', 'c1'], '-'),
    ('create', ['c1', '--', '-x'], "E: create: unexpected argument '-x'"),
    ('create', ['--bundle', '/v', 'c1'], "bundle='/v'"),
    ('create', ['c1', '--bundle', '/v'], "bundle='/v'"),
    ('create', ['--bundle=/v', 'c1'], "bundle='/v'"),
    ('create', ['c1', '--bundle=/v'], "bundle='/v'"),
    ('create', ['--bundle', 'c1'], 'E: create: missing argument CONTAINER_ID'),
    ('create', ['c1', '--bundle'], 'E: create: --bundle needs a value'),
    ('create', ['--bundle', '-dash', 'c1'], "bundle='-dash'"),
    ('create', ['c1', '--bundle', '-dash'], "bundle='-dash'"),
    ('create', ['--bundle=', 'c1'], "bundle=''"),
    ('create', ['c1', '--bundle='], "bundle=''"),
    ('create', ['-b', '/v', 'c1'], "bundle='/v'"),
    ('create', ['c1', '-b', '/v'], "bundle='/v'"),
    ('create', ['-b=/v', 'c1'], "bundle='/v'"),
    ('create', ['c1', '-b=/v'], "bundle='/v'"),
    ('create', ['-b', 'c1'], 'E: create: missing argument CONTAINER_ID'),
    ('create', ['c1', '-b'], 'E: create: -b needs a value'),
    ('create', ['-b', '-dash', 'c1'], "bundle='-dash'"),
    ('create', ['c1', '-b', '-dash'], "bundle='-dash'"),
    ('create', ['-b=', 'c1'], "bundle=''"),
    ('create', ['c1', '-b='], "bundle=''"),
    ('create', ['--pid-file', '/v', 'c1'], "pid_file='/v'"),
    ('create', ['c1', '--pid-file', '/v'], "pid_file='/v'"),
    ('create', ['--pid-file=/v', 'c1'], "pid_file='/v'"),
    ('create', ['c1', '--pid-file=/v'], "pid_file='/v'"),
    ('create', ['--pid-file', 'c1'], 'E: create: missing argument CONTAINER_ID'),
    ('create', ['c1', '--pid-file'], 'E: create: --pid-file needs a value'),
    ('create', ['--pid-file', '-dash', 'c1'], "pid_file='-dash'"),
    ('create', ['c1', '--pid-file', '-dash'], "pid_file='-dash'"),
    ('create', ['--pid-file=', 'c1'], "pid_file=''"),
    ('create', ['c1', '--pid-file='], "pid_file=''"),
    ('create', ['--console-socket', '/v', 'c1'], "console_socket='/v'"),
    ('create', ['c1', '--console-socket', '/v'], "console_socket='/v'"),
    ('create', ['--console-socket=/v', 'c1'], "console_socket='/v'"),
    ('create', ['c1', '--console-socket=/v'], "console_socket='/v'"),
    ('create', ['--console-socket', 'c1'], 'E: create: missing argument CONTAINER_ID'),
    ('create', ['c1', '--console-socket'], 'E: create: --console-socket needs a value'),
    ('create', ['--console-socket', '-dash', 'c1'], "console_socket='-dash'"),
    ('create', ['c1', '--console-socket', '-dash'], "console_socket='-dash'"),
    ('create', ['--console-socket=', 'c1'], "console_socket=''"),
    ('create', ['c1', '--console-socket='], "console_socket=''"),
    ('create', ['--no-pivot', 'c1'], 'no_pivot=True'),
    ('create', ['c1', '--no-pivot'], 'no_pivot=True'),
    ('create', ['--no-pivot=true', 'c1'], 'no_pivot=True'),
    ('create', ['c1', '--no-pivot=true'], 'no_pivot=True'),
    ('create', ['--no-pivot=false', 'c1'], '-'),
    ('create', ['c1', '--no-pivot=false'], '-'),
    ('create', ['--no-pivot=0', 'c1'], '-'),
    ('create', ['c1', '--no-pivot=0'], '-'),
    ('create', ['--no-new-keyring', 'c1'], 'no_new_keyring=True'),
    ('create', ['c1', '--no-new-keyring'], 'no_new_keyring=True'),
    ('create', ['--no-new-keyring=true', 'c1'], 'no_new_keyring=True'),
    ('create', ['c1', '--no-new-keyring=true'], 'no_new_keyring=True'),
    ('create', ['--no-new-keyring=false', 'c1'], '-'),
    ('create', ['c1', '--no-new-keyring=false'], '-'),
    ('create', ['--no-new-keyring=0', 'c1'], '-'),
    ('create', ['c1', '--no-new-keyring=0'], '-'),
    ('create', ['--preserve-fds', '3', 'c1'], 'preserve_fds=3'),
    ('create', ['c1', '--preserve-fds', '3'], 'preserve_fds=3'),
    ('create', ['--preserve-fds=3', 'c1'], 'preserve_fds=3'),
    ('create', ['c1', '--preserve-fds=3'], 'preserve_fds=3'),
    ('create', ['--preserve-fds', 'c1'], "E: create: --preserve-fds wants a number, not 'c1'"),
    ('create', ['c1', '--preserve-fds'], 'E: create: --preserve-fds needs a value'),
    ('create', ['--preserve-fds', '-dash', 'c1'], "E: create: --preserve-fds wants a number, not '-dash'"),
    ('create', ['c1', '--preserve-fds', '-dash'], "E: create: --preserve-fds wants a number, not '-dash'"),
    ('create', ['--preserve-fds=', 'c1'], "E: create: --preserve-fds wants a number, not ''"),
    ('create', ['c1', '--preserve-fds='], "E: create: --preserve-fds wants a number, not ''"),
    ('create', ['--preserve-fds', 'x', 'c1'], "E: create: --preserve-fds wants a number, not 'x'"),
    ('create', ['c1', '--preserve-fds', 'x'], "E: create: --preserve-fds wants a number, not 'x'"),
    ('create', ['--preserve-fds', '-1', 'c1'], 'E: create: --preserve-fds must not be negative'),
    ('create', ['c1', '--preserve-fds', '-1'], 'E: create: --preserve-fds must not be negative'),
    ('run', ['c1'], '-'),
    ('run', ['c1', 'extra'], "E: run: unexpected argument 'extra'"),
    ('run', ['--bogus', 'c1'], 'E: run: unknown option --bogus'),
    ('run', ['--', 'c1'], '-'),
    ('run', ['c1', '--', '-x'], "E: run: unexpected argument '-x'"),
    ('run', ['--bundle', '/v', 'c1'], "bundle='/v'"),
    ('run', ['c1', '--bundle', '/v'], "bundle='/v'"),
    ('run', ['--bundle=/v', 'c1'], "bundle='/v'"),
    ('run', ['c1', '--bundle=/v'], "bundle='/v'"),
    ('run', ['--bundle', 'c1'], 'E: run: missing argument CONTAINER_ID'),
    ('run', ['c1', '--bundle'], 'E: run: --bundle needs a value'),
    ('run', ['--bundle', '-dash', 'c1'], "bundle='-dash'"),
    ('run', ['c1', '--bundle', '-dash'], "bundle='-dash'"),
    ('run', ['--bundle=', 'c1'], "bundle=''"),
    ('run', ['c1', '--bundle='], "bundle=''"),
    ('run', ['-b', '/v', 'c1'], "bundle='/v'"),
    ('run', ['c1', '-b', '/v'], "bundle='/v'"),
    ('run', ['-b=/v', 'c1'], "bundle='/v'"),
    ('run', ['c1', '-b=/v'], "bundle='/v'"),
    ('run', ['-b', 'c1'], 'E: run: missing argument CONTAINER_ID'),
    ('run', ['c1', '-b'], 'E: run: -b needs a value'),
    ('run', ['-b', '-dash', 'c1'], "bundle='-dash'"),
    ('run', ['c1', '-b', '-dash'], "bundle='-dash'"),
    ('run', ['-b=', 'c1'], "bundle=''"),
    ('run', ['c1', '-b='], "bundle=''"),
    ('run', ['--pid-file', '/v', 'c1'], "pid_file='/v'"),
    ('run', ['c1', '--pid-file', '/v'], "pid_file='/v'"),
    ('run', ['--pid-file=/v', 'c1'], "pid_file='/v'"),
    ('run', ['c1', '--pid-file=/v'], "pid_file='/v'"),
    ('run', ['--pid-file', 'c1'], 'E: run: missing argument CONTAINER_ID'),
    ('run', ['c1', '--pid-file'], 'E: run: --pid-file needs a value'),
    ('run', ['--pid-file', '-dash', 'c1'], "pid_file='-dash'"),
    ('run', ['c1', '--pid-file', '-dash'], "pid_file='-dash'"),
    ('run', ['--pid-file=', 'c1'], "pid_file=''"),
    ('run', ['c1', '--pid-file='], "pid_file=''"),
    ('run', ['--console-socket', '/v', 'c1'], "console_socket='/v'"),
    ('run', ['c1', '--console-socket', '/v'], "console_socket='/v'"),
    ('run', ['--console-socket=/v', 'c1'], "console_socket='/v'"),
    ('run', ['c1', '--console-socket=/v'], "console_socket='/v'"),
    ('run', ['--console-socket', 'c1'], 'E: run: missing argument CONTAINER_ID'),
    ('run', ['c1', '--console-socket'], 'E: run: --console-socket needs a value'),
    ('run', ['--console-socket', '-dash', 'c1'], "console_socket='-dash'"),
    ('run', ['c1', '--console-socket', '-dash'], "console_socket='-dash'"),
    ('run', ['--console-socket=', 'c1'], "console_socket=''"),
    ('run', ['c1', '--console-socket='], "console_socket=''"),
    ('run', ['--no-pivot', 'c1'], 'no_pivot=True'),
    ('run', ['c1', '--no-pivot'], 'no_pivot=True'),
    ('run', ['--no-pivot=true', 'c1'], 'no_pivot=True'),
    ('run', ['c1', '--no-pivot=true'], 'no_pivot=True'),
    ('run', ['--no-pivot=false', 'c1'], '-'),
    ('run', ['c1', '--no-pivot=false'], '-'),
    ('run', ['--no-pivot=0', 'c1'], '-'),
    ('run', ['c1', '--no-pivot=0'], '-'),
    ('run', ['--no-new-keyring', 'c1'], 'no_new_keyring=True'),
    ('run', ['c1', '--no-new-keyring'], 'no_new_keyring=True'),
    ('run', ['--no-new-keyring=true', 'c1'], 'no_new_keyring=True'),
    ('run', ['c1', '--no-new-keyring=true'], 'no_new_keyring=True'),
    ('run', ['--no-new-keyring=false', 'c1'], '-'),
    ('run', ['c1', '--no-new-keyring=false'], '-'),
    ('run', ['--no-new-keyring=0', 'c1'], '-'),
    ('run', ['c1', '--no-new-keyring=0'], '-'),
    ('run', ['--preserve-fds', '3', 'c1'], 'preserve_fds=3'),
    ('run', ['c1', '--preserve-fds', '3'], 'preserve_fds=3'),
    ('run', ['--preserve-fds=3', 'c1'], 'preserve_fds=3'),
    ('run', ['c1', '--preserve-fds=3'], 'preserve_fds=3'),
    ('run', ['--preserve-fds', 'c1'], "E: run: --preserve-fds wants a number, not 'c1'"),
    ('run', ['c1', '--preserve-fds'], 'E: run: --preserve-fds needs a value'),
    ('run', ['--preserve-fds', '-dash', 'c1'], "E: run: --preserve-fds wants a number, not '-dash'"),
    ('run', ['c1', '--preserve-fds', '-dash'], "E: run: --preserve-fds wants a number, not '-dash'"),
    ('run', ['--preserve-fds=', 'c1'], "E: run: --preserve-fds wants a number, not ''"),
    ('run', ['c1', '--preserve-fds='], "E: run: --preserve-fds wants a number, not ''"),
    ('run', ['--preserve-fds', 'x', 'c1'], "E: run: --preserve-fds wants a number, not 'x'"),
    ('run', ['c1', '--preserve-fds', 'x'], "E: run: --preserve-fds wants a number, not 'x'"),
    ('run', ['--preserve-fds', '-1', 'c1'], 'E: run: --preserve-fds must not be negative'),
    ('run', ['c1', '--preserve-fds', '-1'], 'E: run: --preserve-fds must not be negative'),
    ('run', ['--detach', 'c1'], 'detach=True'),
    ('run', ['c1', '--detach'], 'detach=True'),
    ('run', ['--detach=true', 'c1'], 'detach=True'),
    ('run', ['c1', '--detach=true'], 'detach=True'),
    ('run', ['--detach=false', 'c1'], '-'),
    ('run', ['c1', '--detach=false'], '-'),
    ('run', ['--detach=0', 'c1'], '-'),
    ('run', ['c1', '--detach=0'], '-'),
    ('run', ['-d', 'c1'], 'detach=True'),
    ('run', ['c1', '-d'], 'detach=True'),
    ('run', ['-d=true', 'c1'], 'detach=True'),
    ('run', ['c1', '-d=true'], 'detach=True'),
    ('run', ['-d=false', 'c1'], '-'),
    ('run', ['c1', '-d=false'], '-'),
    ('run', ['-d=0', 'c1'], '-'),
    ('run', ['c1', '-d=0'], '-'),
    ('run', ['--keep', 'c1'], 'keep=True'),
    ('run', ['c1', '--keep'], 'keep=True'),
    ('run', ['--keep=true', 'c1'], 'keep=True'),
    ('run', ['c1', '--keep=true'], 'keep=True'),
    ('run', ['--keep=false', 'c1'], '-'),
    ('run', ['c1', '--keep=false'], '-'),
    ('run', ['--keep=0', 'c1'], '-'),
    ('run', ['c1', '--keep=0'], '-'),
    ('start', ['c1'], '-'),
    ('start', ['c1', 'extra'], "E: start: unexpected argument 'extra'"),
    ('start', ['--bogus', 'c1'], 'E: start: unknown option --bogus'),
    ('start', ['--', 'c1'], '-'),
    ('start', ['c1', '--', '-x'], "E: start: unexpected argument '-x'"),
    ('state', ['c1'], '-'),
    ('state', ['c1', 'extra'], "E: state: unexpected argument 'extra'"),
    ('state', ['--bogus', 'c1'], 'E: state: unknown option --bogus'),
    ('state', ['--', 'c1'], '-'),
    ('state', ['c1', '--', '-x'], "E: state: unexpected argument '-x'"),
    ('kill', ['c1'], '-'),
    ('kill', ['c1', 'extra'], "signal='extra'"),
    ('kill', ['--bogus', 'c1'], 'E: kill: unknown option --bogus'),
    ('kill', ['--', 'c1'], '-'),
    ('kill', ['c1', '--', '-x'], "signal='-x'"),
    ('kill', ['--all', 'c1'], 'all_=True'),
    ('kill', ['c1', '--all'], 'all_=True'),
    ('kill', ['--all=true', 'c1'], 'all_=True'),
    ('kill', ['c1', '--all=true'], 'all_=True'),
    ('kill', ['--all=false', 'c1'], '-'),
    ('kill', ['c1', '--all=false'], '-'),
    ('kill', ['--all=0', 'c1'], '-'),
    ('kill', ['c1', '--all=0'], '-'),
    ('kill', ['-a', 'c1'], 'all_=True'),
    ('kill', ['c1', '-a'], 'all_=True'),
    ('kill', ['-a=true', 'c1'], 'all_=True'),
    ('kill', ['c1', '-a=true'], 'all_=True'),
    ('kill', ['-a=false', 'c1'], '-'),
    ('kill', ['c1', '-a=false'], '-'),
    ('kill', ['-a=0', 'c1'], '-'),
    ('kill', ['c1', '-a=0'], '-'),
    ('delete', ['c1'], '-'),
    ('delete', ['c1', 'extra'], "E: delete: unexpected argument 'extra'"),
    ('delete', ['--bogus', 'c1'], 'E: delete: unknown option --bogus'),
    ('delete', ['--', 'c1'], '-'),
    ('delete', ['c1', '--', '-x'], "E: delete: unexpected argument '-x'"),
    ('delete', ['--force', 'c1'], 'force=True'),
    ('delete', ['c1', '--force'], 'force=True'),
    ('delete', ['--force=true', 'c1'], 'force=True'),
    ('delete', ['c1', '--force=true'], 'force=True'),
    ('delete', ['--force=false', 'c1'], '-'),
    ('delete', ['c1', '--force=false'], '-'),
    ('delete', ['--force=0', 'c1'], '-'),
    ('delete', ['c1', '--force=0'], '-'),
    ('delete', ['-f', 'c1'], 'force=True'),
    ('delete', ['c1', '-f'], 'force=True'),
    ('delete', ['-f=true', 'c1'], 'force=True'),
    ('delete', ['c1', '-f=true'], 'force=True'),
    ('delete', ['-f=false', 'c1'], '-'),
    ('delete', ['c1', '-f=false'], '-'),
    ('delete', ['-f=0', 'c1'], '-'),
    ('delete', ['c1', '-f=0'], '-'),
    ('list', [], '-'),
    ('list', ['extra'], "E: list: unexpected argument 'extra'"),
    ('list', ['--bogus'], 'E: list: unknown option --bogus'),
    ('list', ['--'], '-'),
    ('list', ['--', '-x'], "E: list: unexpected argument '-x'"),
    ('list', ['--format', 'json'], "fmt='json'"),
    ('list', ['--format=json'], "fmt='json'"),
    ('list', ['--format'], 'E: list: --format needs a value'),
    ('list', ['--format', '-dash'], 'E: list: --format must be one of table, json'),
    ('list', ['--format='], 'E: list: --format must be one of table, json'),
    ('list', ['--format', 'yaml'], 'E: list: --format must be one of table, json'),
    ('list', ['-f', 'json'], "fmt='json'"),
    ('list', ['-f=json'], "fmt='json'"),
    ('list', ['-f'], 'E: list: -f needs a value'),
    ('list', ['-f', '-dash'], 'E: list: --format must be one of table, json'),
    ('list', ['-f='], 'E: list: --format must be one of table, json'),
    ('list', ['-f', 'yaml'], 'E: list: --format must be one of table, json'),
    ('list', ['--quiet'], 'quiet=True'),
    ('list', ['--quiet=true'], 'quiet=True'),
    ('list', ['--quiet=false'], '-'),
    ('list', ['--quiet=0'], '-'),
    ('list', ['-q'], 'quiet=True'),
    ('list', ['-q=true'], 'quiet=True'),
    ('list', ['-q=false'], '-'),
    ('list', ['-q=0'], '-'),
    ('ps', ['c1'], '-'),
    ('ps', ['c1', 'extra'], "ps_args=['extra']"),
    ('ps', ['--bogus', 'c1'], 'E: ps: unknown option --bogus'),
    ('ps', ['--', 'c1'], '-'),
    ('ps', ['c1', '--', '-x'], "ps_args=['--', '-x']"),
    ('ps', ['--format', 'json', 'c1'], "fmt='json'"),
    ('ps', ['c1', '--format', 'json'], "ps_args=['--format', 'json']"),
    ('ps', ['--format=json', 'c1'], "fmt='json'"),
    ('ps', ['c1', '--format=json'], "ps_args=['--format=json']"),
    ('ps', ['--format', 'c1'], 'E: ps: --format must be one of table, json'),
    ('ps', ['c1', '--format'], "ps_args=['--format']"),
    ('ps', ['--format', '-dash', 'c1'], 'E: ps: --format must be one of table, json'),
    ('ps', ['c1', '--format', '-dash'], "ps_args=['--format', '-dash']"),
    ('ps', ['--format=', 'c1'], 'E: ps: --format must be one of table, json'),
    ('ps', ['c1', '--format='], "ps_args=['--format=']"),
    ('ps', ['--format', 'yaml', 'c1'], 'E: ps: --format must be one of table, json'),
    ('ps', ['c1', '--format', 'yaml'], "ps_args=['--format', 'yaml']"),
    ('ps', ['-f', 'json', 'c1'], "fmt='json'"),
    ('ps', ['c1', '-f', 'json'], "ps_args=['-f', 'json']"),
    ('ps', ['-f=json', 'c1'], "fmt='json'"),
    ('ps', ['c1', '-f=json'], "ps_args=['-f=json']"),
    ('ps', ['-f', 'c1'], 'E: ps: --format must be one of table, json'),
    ('ps', ['c1', '-f'], "ps_args=['-f']"),
    ('ps', ['-f', '-dash', 'c1'], 'E: ps: --format must be one of table, json'),
    ('ps', ['c1', '-f', '-dash'], "ps_args=['-f', '-dash']"),
    ('ps', ['-f=', 'c1'], 'E: ps: --format must be one of table, json'),
    ('ps', ['c1', '-f='], "ps_args=['-f=']"),
    ('ps', ['-f', 'yaml', 'c1'], 'E: ps: --format must be one of table, json'),
    ('ps', ['c1', '-f', 'yaml'], "ps_args=['-f', 'yaml']"),
    ('ps', ['c1', 'a', '-b', '--c'], "ps_args=['a', '-b', '--c']"),
    ('ps', ['c1', '--bogus'], "ps_args=['--bogus']"),
    ('exec', ['c1'], '-'),
    ('exec', ['c1', 'extra'], "command=['extra']"),
    ('exec', ['--bogus', 'c1'], 'E: exec: unknown option --bogus'),
    ('exec', ['--', 'c1'], '-'),
    ('exec', ['c1', '--', '-x'], "command=['--', '-x']"),
    ('exec', ['--process', '/v', 'c1'], "process_json='/v'"),
    ('exec', ['c1', '--process', '/v'], "command=['--process', '/v']"),
    ('exec', ['--process=/v', 'c1'], "process_json='/v'"),
    ('exec', ['c1', '--process=/v'], "command=['--process=/v']"),
    ('exec', ['--process', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '--process'], "command=['--process']"),
    ('exec', ['--process', '-dash', 'c1'], "process_json='-dash'"),
    ('exec', ['c1', '--process', '-dash'], "command=['--process', '-dash']"),
    ('exec', ['--process=', 'c1'], "process_json=''"),
    ('exec', ['c1', '--process='], "command=['--process=']"),
    ('exec', ['-p', '/v', 'c1'], "process_json='/v'"),
    ('exec', ['c1', '-p', '/v'], "command=['-p', '/v']"),
    ('exec', ['-p=/v', 'c1'], "process_json='/v'"),
    ('exec', ['c1', '-p=/v'], "command=['-p=/v']"),
    ('exec', ['-p', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '-p'], "command=['-p']"),
    ('exec', ['-p', '-dash', 'c1'], "process_json='-dash'"),
    ('exec', ['c1', '-p', '-dash'], "command=['-p', '-dash']"),
    ('exec', ['-p=', 'c1'], "process_json=''"),
    ('exec', ['c1', '-p='], "command=['-p=']"),
    ('exec', ['--tty', 'c1'], 'tty=True'),
    ('exec', ['c1', '--tty'], "command=['--tty']"),
    ('exec', ['--tty=true', 'c1'], 'tty=True'),
    ('exec', ['c1', '--tty=true'], "command=['--tty=true']"),
    ('exec', ['--tty=false', 'c1'], '-'),
    ('exec', ['c1', '--tty=false'], "command=['--tty=false']"),
    ('exec', ['--tty=0', 'c1'], '-'),
    ('exec', ['c1', '--tty=0'], "command=['--tty=0']"),
    ('exec', ['-t', 'c1'], 'tty=True'),
    ('exec', ['c1', '-t'], "command=['-t']"),
    ('exec', ['-t=true', 'c1'], 'tty=True'),
    ('exec', ['c1', '-t=true'], "command=['-t=true']"),
    ('exec', ['-t=false', 'c1'], '-'),
    ('exec', ['c1', '-t=false'], "command=['-t=false']"),
    ('exec', ['-t=0', 'c1'], '-'),
    ('exec', ['c1', '-t=0'], "command=['-t=0']"),
    ('exec', ['--cwd', '/v', 'c1'], "cwd='/v'"),
    ('exec', ['c1', '--cwd', '/v'], "command=['--cwd', '/v']"),
    ('exec', ['--cwd=/v', 'c1'], "cwd='/v'"),
    ('exec', ['c1', '--cwd=/v'], "command=['--cwd=/v']"),
    ('exec', ['--cwd', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '--cwd'], "command=['--cwd']"),
    ('exec', ['--cwd', '-dash', 'c1'], "cwd='-dash'"),
    ('exec', ['c1', '--cwd', '-dash'], "command=['--cwd', '-dash']"),
    ('exec', ['--cwd=', 'c1'], "cwd=''"),
    ('exec', ['c1', '--cwd='], "command=['--cwd=']"),
    ('exec', ['--env', '/v', 'c1'], "env=['/v']"),
    ('exec', ['c1', '--env', '/v'], "command=['--env', '/v']"),
    ('exec', ['--env=/v', 'c1'], "env=['/v']"),
    ('exec', ['c1', '--env=/v'], "command=['--env=/v']"),
    ('exec', ['--env', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '--env'], "command=['--env']"),
    ('exec', ['--env', '-dash', 'c1'], "env=['-dash']"),
    ('exec', ['c1', '--env', '-dash'], "command=['--env', '-dash']"),
    ('exec', ['--env=', 'c1'], "env=['']"),
    ('exec', ['c1', '--env='], "command=['--env=']"),
    ('exec', ['--env', '/v', '--env', '/v', 'c1'], "env=['/v', '/v']"),
    ('exec', ['c1', '--env', '/v', '--env', '/v'], "command=['--env', '/v', '--env', '/v']"),
    ('exec', ['-e', '/v', 'c1'], "env=['/v']"),
    ('exec', ['c1', '-e', '/v'], "command=['-e', '/v']"),
    ('exec', ['-e=/v', 'c1'], "env=['/v']"),
    ('exec', ['c1', '-e=/v'], "command=['-e=/v']"),
    ('exec', ['-e', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '-e'], "command=['-e']"),
    ('exec', ['-e', '-dash', 'c1'], "env=['-dash']"),
    ('exec', ['c1', '-e', '-dash'], "command=['-e', '-dash']"),
    ('exec', ['-e=', 'c1'], "env=['']"),
    ('exec', ['c1', '-e='], "command=['-e=']"),
    ('exec', ['-e', '/v', '-e', '/v', 'c1'], "env=['/v', '/v']"),
    ('exec', ['c1', '-e', '/v', '-e', '/v'], "command=['-e', '/v', '-e', '/v']"),
    ('exec', ['--user', '/v', 'c1'], "user='/v'"),
    ('exec', ['c1', '--user', '/v'], "command=['--user', '/v']"),
    ('exec', ['--user=/v', 'c1'], "user='/v'"),
    ('exec', ['c1', '--user=/v'], "command=['--user=/v']"),
    ('exec', ['--user', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '--user'], "command=['--user']"),
    ('exec', ['--user', '-dash', 'c1'], "user='-dash'"),
    ('exec', ['c1', '--user', '-dash'], "command=['--user', '-dash']"),
    ('exec', ['--user=', 'c1'], "user=''"),
    ('exec', ['c1', '--user='], "command=['--user=']"),
    ('exec', ['-u', '/v', 'c1'], "user='/v'"),
    ('exec', ['c1', '-u', '/v'], "command=['-u', '/v']"),
    ('exec', ['-u=/v', 'c1'], "user='/v'"),
    ('exec', ['c1', '-u=/v'], "command=['-u=/v']"),
    ('exec', ['-u', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '-u'], "command=['-u']"),
    ('exec', ['-u', '-dash', 'c1'], "user='-dash'"),
    ('exec', ['c1', '-u', '-dash'], "command=['-u', '-dash']"),
    ('exec', ['-u=', 'c1'], "user=''"),
    ('exec', ['c1', '-u='], "command=['-u=']"),
    ('exec', ['--additional-gids', '7', 'c1'], 'additional_gids=[7]'),
    ('exec', ['c1', '--additional-gids', '7'], "command=['--additional-gids', '7']"),
    ('exec', ['--additional-gids=7', 'c1'], 'additional_gids=[7]'),
    ('exec', ['c1', '--additional-gids=7'], "command=['--additional-gids=7']"),
    ('exec', ['--additional-gids', 'c1'], "E: exec: --additional-gids wants a number, not 'c1'"),
    ('exec', ['c1', '--additional-gids'], "command=['--additional-gids']"),
    ('exec', ['--additional-gids', '-dash', 'c1'], "E: exec: --additional-gids wants a number, not '-dash'"),
    ('exec', ['c1', '--additional-gids', '-dash'], "command=['--additional-gids', '-dash']"),
    ('exec', ['--additional-gids=', 'c1'], "E: exec: --additional-gids wants a number, not ''"),
    ('exec', ['c1', '--additional-gids='], "command=['--additional-gids=']"),
    ('exec', ['--additional-gids', 'x', 'c1'], "E: exec: --additional-gids wants a number, not 'x'"),
    ('exec', ['c1', '--additional-gids', 'x'], "command=['--additional-gids', 'x']"),
    ('exec', ['--additional-gids', '-1', 'c1'], 'E: exec: --additional-gids must not be negative'),
    ('exec', ['c1', '--additional-gids', '-1'], "command=['--additional-gids', '-1']"),
    ('exec', ['--additional-gids', '7', '--additional-gids', '7', 'c1'], 'additional_gids=[7, 7]'),
    ('exec', ['c1', '--additional-gids', '7', '--additional-gids', '7'], "command=['--additional-gids', '7', '--additional-gids', '7']"),
    ('exec', ['-g', '7', 'c1'], 'additional_gids=[7]'),
    ('exec', ['c1', '-g', '7'], "command=['-g', '7']"),
    ('exec', ['-g=7', 'c1'], 'additional_gids=[7]'),
    ('exec', ['c1', '-g=7'], "command=['-g=7']"),
    ('exec', ['-g', 'c1'], "E: exec: --additional-gids wants a number, not 'c1'"),
    ('exec', ['c1', '-g'], "command=['-g']"),
    ('exec', ['-g', '-dash', 'c1'], "E: exec: --additional-gids wants a number, not '-dash'"),
    ('exec', ['c1', '-g', '-dash'], "command=['-g', '-dash']"),
    ('exec', ['-g=', 'c1'], "E: exec: --additional-gids wants a number, not ''"),
    ('exec', ['c1', '-g='], "command=['-g=']"),
    ('exec', ['-g', 'x', 'c1'], "E: exec: --additional-gids wants a number, not 'x'"),
    ('exec', ['c1', '-g', 'x'], "command=['-g', 'x']"),
    ('exec', ['-g', '-1', 'c1'], 'E: exec: --additional-gids must not be negative'),
    ('exec', ['c1', '-g', '-1'], "command=['-g', '-1']"),
    ('exec', ['-g', '7', '-g', '7', 'c1'], 'additional_gids=[7, 7]'),
    ('exec', ['c1', '-g', '7', '-g', '7'], "command=['-g', '7', '-g', '7']"),
    ('exec', ['--cap', '/v', 'c1'], "cap=['/v']"),
    ('exec', ['c1', '--cap', '/v'], "command=['--cap', '/v']"),
    ('exec', ['--cap=/v', 'c1'], "cap=['/v']"),
    ('exec', ['c1', '--cap=/v'], "command=['--cap=/v']"),
    ('exec', ['--cap', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '--cap'], "command=['--cap']"),
    ('exec', ['--cap', '-dash', 'c1'], "cap=['-dash']"),
    ('exec', ['c1', '--cap', '-dash'], "command=['--cap', '-dash']"),
    ('exec', ['--cap=', 'c1'], "cap=['']"),
    ('exec', ['c1', '--cap='], "command=['--cap=']"),
    ('exec', ['--cap', '/v', '--cap', '/v', 'c1'], "cap=['/v', '/v']"),
    ('exec', ['c1', '--cap', '/v', '--cap', '/v'], "command=['--cap', '/v', '--cap', '/v']"),
    ('exec', ['-c', '/v', 'c1'], "cap=['/v']"),
    ('exec', ['c1', '-c', '/v'], "command=['-c', '/v']"),
    ('exec', ['-c=/v', 'c1'], "cap=['/v']"),
    ('exec', ['c1', '-c=/v'], "command=['-c=/v']"),
    ('exec', ['-c', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '-c'], "command=['-c']"),
    ('exec', ['-c', '-dash', 'c1'], "cap=['-dash']"),
    ('exec', ['c1', '-c', '-dash'], "command=['-c', '-dash']"),
    ('exec', ['-c=', 'c1'], "cap=['']"),
    ('exec', ['c1', '-c='], "command=['-c=']"),
    ('exec', ['-c', '/v', '-c', '/v', 'c1'], "cap=['/v', '/v']"),
    ('exec', ['c1', '-c', '/v', '-c', '/v'], "command=['-c', '/v', '-c', '/v']"),
    ('exec', ['--no-new-privs', 'c1'], 'no_new_privs=True'),
    ('exec', ['c1', '--no-new-privs'], "command=['--no-new-privs']"),
    ('exec', ['--no-new-privs=true', 'c1'], 'no_new_privs=True'),
    ('exec', ['c1', '--no-new-privs=true'], "command=['--no-new-privs=true']"),
    ('exec', ['--no-new-privs=false', 'c1'], '-'),
    ('exec', ['c1', '--no-new-privs=false'], "command=['--no-new-privs=false']"),
    ('exec', ['--no-new-privs=0', 'c1'], '-'),
    ('exec', ['c1', '--no-new-privs=0'], "command=['--no-new-privs=0']"),
    ('exec', ['--detach', 'c1'], 'detach=True'),
    ('exec', ['c1', '--detach'], "command=['--detach']"),
    ('exec', ['--detach=true', 'c1'], 'detach=True'),
    ('exec', ['c1', '--detach=true'], "command=['--detach=true']"),
    ('exec', ['--detach=false', 'c1'], '-'),
    ('exec', ['c1', '--detach=false'], "command=['--detach=false']"),
    ('exec', ['--detach=0', 'c1'], '-'),
    ('exec', ['c1', '--detach=0'], "command=['--detach=0']"),
    ('exec', ['-d', 'c1'], 'detach=True'),
    ('exec', ['c1', '-d'], "command=['-d']"),
    ('exec', ['-d=true', 'c1'], 'detach=True'),
    ('exec', ['c1', '-d=true'], "command=['-d=true']"),
    ('exec', ['-d=false', 'c1'], '-'),
    ('exec', ['c1', '-d=false'], "command=['-d=false']"),
    ('exec', ['-d=0', 'c1'], '-'),
    ('exec', ['c1', '-d=0'], "command=['-d=0']"),
    ('exec', ['--pid-file', '/v', 'c1'], "pid_file='/v'"),
    ('exec', ['c1', '--pid-file', '/v'], "command=['--pid-file', '/v']"),
    ('exec', ['--pid-file=/v', 'c1'], "pid_file='/v'"),
    ('exec', ['c1', '--pid-file=/v'], "command=['--pid-file=/v']"),
    ('exec', ['--pid-file', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '--pid-file'], "command=['--pid-file']"),
    ('exec', ['--pid-file', '-dash', 'c1'], "pid_file='-dash'"),
    ('exec', ['c1', '--pid-file', '-dash'], "command=['--pid-file', '-dash']"),
    ('exec', ['--pid-file=', 'c1'], "pid_file=''"),
    ('exec', ['c1', '--pid-file='], "command=['--pid-file=']"),
    ('exec', ['--console-socket', '/v', 'c1'], "console_socket='/v'"),
    ('exec', ['c1', '--console-socket', '/v'], "command=['--console-socket', '/v']"),
    ('exec', ['--console-socket=/v', 'c1'], "console_socket='/v'"),
    ('exec', ['c1', '--console-socket=/v'], "command=['--console-socket=/v']"),
    ('exec', ['--console-socket', 'c1'], 'E: exec: missing argument CONTAINER_ID'),
    ('exec', ['c1', '--console-socket'], "command=['--console-socket']"),
    ('exec', ['--console-socket', '-dash', 'c1'], "console_socket='-dash'"),
    ('exec', ['c1', '--console-socket', '-dash'], "command=['--console-socket', '-dash']"),
    ('exec', ['--console-socket=', 'c1'], "console_socket=''"),
    ('exec', ['c1', '--console-socket='], "command=['--console-socket=']"),
    ('exec', ['--preserve-fds', '3', 'c1'], 'preserve_fds=3'),
    ('exec', ['c1', '--preserve-fds', '3'], "command=['--preserve-fds', '3']"),
    ('exec', ['--preserve-fds=3', 'c1'], 'preserve_fds=3'),
    ('exec', ['c1', '--preserve-fds=3'], "command=['--preserve-fds=3']"),
    ('exec', ['--preserve-fds', 'c1'], "E: exec: --preserve-fds wants a number, not 'c1'"),
    ('exec', ['c1', '--preserve-fds'], "command=['--preserve-fds']"),
    ('exec', ['--preserve-fds', '-dash', 'c1'], "E: exec: --preserve-fds wants a number, not '-dash'"),
    ('exec', ['c1', '--preserve-fds', '-dash'], "command=['--preserve-fds', '-dash']"),
    ('exec', ['--preserve-fds=', 'c1'], "E: exec: --preserve-fds wants a number, not ''"),
    ('exec', ['c1', '--preserve-fds='], "command=['--preserve-fds=']"),
    ('exec', ['--preserve-fds', 'x', 'c1'], "E: exec: --preserve-fds wants a number, not 'x'"),
    ('exec', ['c1', '--preserve-fds', 'x'], "command=['--preserve-fds', 'x']"),
    ('exec', ['--preserve-fds', '-1', 'c1'], 'E: exec: --preserve-fds must not be negative'),
    ('exec', ['c1', '--preserve-fds', '-1'], "command=['--preserve-fds', '-1']"),
    ('exec', ['c1', 'a', '-b', '--c'], "command=['a', '-b', '--c']"),
    ('exec', ['c1', '--bogus'], "command=['--bogus']"),
    ('features', [], '-'),
    ('features', ['extra'], "E: features: unexpected argument 'extra'"),
    ('features', ['--bogus'], 'E: features: unknown option --bogus'),
    ('features', ['--'], '-'),
    ('features', ['--', '-x'], "E: features: unexpected argument '-x'"),
    ('spec', [], '-'),
    ('spec', ['extra'], "E: spec: unexpected argument 'extra'"),
    ('spec', ['--bogus'], 'E: spec: unknown option --bogus'),
    ('spec', ['--'], '-'),
    ('spec', ['--', '-x'], "E: spec: unexpected argument '-x'"),
    ('spec', ['--bundle', '/v'], "bundle='/v'"),
    ('spec', ['--bundle=/v'], "bundle='/v'"),
    ('spec', ['--bundle'], 'E: spec: --bundle needs a value'),
    ('spec', ['--bundle', '-dash'], "bundle='-dash'"),
    ('spec', ['--bundle='], "bundle=''"),
    ('spec', ['-b', '/v'], "bundle='/v'"),
    ('spec', ['-b=/v'], "bundle='/v'"),
    ('spec', ['-b'], 'E: spec: -b needs a value'),
    ('spec', ['-b', '-dash'], "bundle='-dash'"),
    ('spec', ['-b='], "bundle=''"),
    ('spec', ['--rootless'], 'rootless=True'),
    ('spec', ['--rootless=true'], 'rootless=True'),
    ('spec', ['--rootless=false'], '-'),
    ('spec', ['--rootless=0'], '-'),
]


@pytest.mark.parametrize("verb, argv, want", RUNC)
def test_runc_verbs_read_as_before(verb, argv, want):
    assert _changed(verb, _runc_values(verb, argv)) == want


def test_runc_table_covers_every_verb_and_flag_spelling():
    seen = {(v, w) for v, argv, _ in RUNC for w in argv}
    for name, cmd in runc_cli.COMMANDS.items():
        for o in cmd.opts:
            for n in o.names:
                assert (name, n) in seen or (name, n + "=true") in seen, (name, n)


_GLOBAL_DEFAULTS = {"criu": None, "debug": False, "log": None, "log_format": "text", "root": "/run/pyrt-runc",
                    "rootless": "auto", "systemd_cgroup": False}

# (argv, (global values that differ from the defaults, the verb and its words) or 'E: message')
RUNC_GLOBALS = [
    (['list'], ('-', ['list'])),
    (['--root', '/r', 'list'], ("root='/r'", ['list'])),
    (['--root=/r', 'list'], ("root='/r'", ['list'])),
    (['--root', 'list'], ("root='list'", [])),
    (['--root'], 'E: --root needs a value'),
    (['--log', '/l', '--log-format', 'json', '--debug', 'state', 'x'], ("debug=True log='/l' log_format='json'", ['state', 'x'])),
    (['--log-format=yaml', 'list'], 'E: --log-format must be one of text, json'),
    (['--bogus', 'list'], 'E: unknown option --bogus'),
    (['--debug=false', 'list'], ('-', ['list'])),
    (['--systemd-cgroup', 'list'], ('systemd_cgroup=True', ['list'])),
    (['--rootless', 'true', 'list'], ("rootless='true'", ['list'])),
    (['--rootless=false', '--criu', '/c', 'list'], ("criu='/c' rootless='false'", ['list'])),
    (['--root', '/r'], ("root='/r'", [])),
    ([], ('-', [])),
    (['list', '--root', '/x'], ('-', ['list', '--root', '/x'])),
    (['--root', '/a', '--root', '/b', 'list', '-q'], ("root='/b'", ['list', '-q'])),
    (['-', 'list'], ('-', ['list'])),
    (['--', 'list'], ('-', ['list'])),
    (['--log', '--debug', 'list'], ("log='--debug'", ['list'])),
]


@pytest.mark.parametrize("argv, want", RUNC_GLOBALS)
def test_runc_globals_read_as_before(argv, want):
    try:
        g, rest = runc_cli._split_globals(list(argv))
    except UsageError as e:
        got = f"E: {e}"
    else:
        got = (" ".join(f"{k}={v!r}" for k, v in sorted(g.items()) if v != _GLOBAL_DEFAULTS[k]) or "-", rest)
    assert got == want


@pytest.mark.parametrize("argv, line", [
    (["create", "--bogus", "c1"], "pyrt-runc: create: unknown option --bogus"),
    (["--root", "{root}", "start", "c1", "--", "-x"], "pyrt-runc: start: unexpected argument '-x'"),
    (["--log-format", "yaml", "list"], "pyrt-runc: --log-format must be one of text, json"),
    (["--root", "{root}"], "pyrt-runc: missing command"),
    (["--root", "{root}", "list", "-q", "--format"], "pyrt-runc: list: --format needs a value"),
])
def test_runc_usage_errors_are_one_line_exit_2(argv, line, tmp_path):
    out = subprocess.run([PYRT_RUNC, *[a.format(root=tmp_path) for a in argv]], capture_output=True,
                         text=True, timeout=30)
    assert (out.returncode, out.stderr, out.stdout) == (2, line + "\n", "")


_PULL_DEFAULTS = {"root": pyrt_cli.DEFAULT_ROOT, "platform": None, "tls_verify": None, "authfile": None,
                  "quiet": False, "low_speed_limit": None, "low_speed_time": None, "timeout": None}

# (pyrt argv, 'REFERENCE k=v...' for what the fast path reads, None for what it leaves to click)
PULL = [
    (['pull', 'x'], 'x'),
    (['pull', '-q', 'x'], 'x quiet=True'),
    (['pull', '--quiet', 'x'], 'x quiet=True'),
    (['pull', 'x', '-q'], 'x quiet=True'),
    (['pull', '-q=1', 'x'], None),
    (['pull', '--quiet=true', 'x'], None),
    (['pull', '--tls-verify=true', 'x'], 'x tls_verify=True'),
    (['pull', '--tls-verify=false', 'x'], 'x tls_verify=False'),
    (['pull', '--tls-verify', 'x'], None),
    (['pull', '--tls-verify', 'true', 'x'], None),
    (['pull', '--tls-verify=no', 'x'], None),
    (['pull', '--tls-verify=TRUE', 'x'], None),
    (['pull', '--platform', 'linux/arm64', 'x'], "x platform='linux/arm64'"),
    (['pull', '--platform=linux/arm64', 'x'], "x platform='linux/arm64'"),
    (['pull', 'x', '--platform', 'p'], "x platform='p'"),
    (['pull', '--platform', '-q', 'x'], None),
    (['pull', '--platform=-q', 'x'], "x platform='-q'"),
    (['pull', '--platform=', 'x'], None),
    (['pull', '--platform', '', 'x'], None),
    (['pull', '--platform', 'a', '--platform', 'b', 'x'], "x platform='b'"),
    (['pull', '--authfile', '/a', 'x'], "x authfile='/a'"),
    (['pull', '--authfile=/a', 'x'], "x authfile='/a'"),
    (['pull', '--authfile'], None),
    (['pull', 'x', '--authfile'], None),
    (['pull', '--platform'], None),
    (['pull'], None),
    (['pull', 'a', 'b'], None),
    (['pull', '--help'], None),
    (['pull', '-h', 'x'], None),
    (['pull', '--', 'x'], None),
    (['pull', 'x', '--'], None),
    (['pull', '-'], None),
    (['pull', ''], None),
    (['pull', '-qq', 'x'], None),
    (['pull', '--bogus', 'x'], None),
    (['pull', '--plat', 'p', 'x'], None),
    (['--root', '/r', 'pull', 'x'], "x root='/r'"),
    (['--root=/r', 'pull', 'x'], "x root='/r'"),
    (['--root', '/a', '--root', '/b', 'pull', 'x'], "x root='/b'"),
    (['--root=', 'pull', 'x'], None),
    (['--root', '', 'pull', 'x'], None),
    (['--root', 'pull', 'pull', 'x'], "x root='pull'"),
    (['--root', 'pull'], None),
    (['--rootx', 'pull', 'x'], None),
    (['--root'], None),
    (['--help'], None),
    ([], None),
    (['images'], None),
    (['image', 'pull', 'x'], None),
    (['-q', 'pull', 'x'], None),
    # These two were read without click before argtable; now click reads them, to the same values
    # (test_what_the_fast_path_leaves_click_reads_the_same).
    (['--root', '-r', 'pull', 'x'], None),
    (['--root', '--', 'pull', 'x'], None),
    (['pull', 'x', '--root', '/r'], None),
    (['--', 'pull', 'x'], None),
    (['--root', '/r', 'pull', '-q', '--tls-verify=false', '--platform', 'linux/arm64', '--authfile=/a.json', 'h:5000/x/y:1'], "h:5000/x/y:1 root='/r' platform='linux/arm64' tls_verify=False authfile='/a.json' quiet=True"),
]


def _pull_summary(args):
    if args is None:
        return None
    diff = " ".join(f"{k}={args[k]!r}" for k in _PULL_DEFAULTS if args[k] != _PULL_DEFAULTS[k])
    return args["reference"] + (" " + diff if diff else "")


@pytest.mark.parametrize("argv, want", PULL)
def test_pull_fast_path_reads_as_before(argv, want, monkeypatch):
    monkeypatch.delenv("PYRT_ROOT", raising=False)
    assert _pull_summary(pyrt_cli._plain_pull(list(argv))) == want


def _click_pull(argv, monkeypatch):
    """What click's `pull` would call pull_image with (None: click refuses ARGV or it is not a pull)."""
    import click

    from pyrt.cli import pyrt_commands
    calls = []
    monkeypatch.setattr(pyrt_commands, "pull_image", lambda *a: calls.append(a))
    try:
        pyrt_commands.cli.main(args=list(argv), prog_name="pyrt", standalone_mode=False)
    except (click.ClickException, click.exceptions.Exit):
        return None
    if not calls:
        return None
    import inspect
    names = list(inspect.signature(pyrt_cli.pull_image).parameters)
    return dict(zip(names, calls[0]))


@pytest.mark.parametrize("argv", [a for a, _ in PULL if "--help" not in a and "-h" not in a])
def test_what_the_fast_path_reads_click_reads_the_same(argv, monkeypatch, capsys):
    """Taken by the fast path or left to click, every ARGV ends, through pyrt's real entry point,
    in the pull click alone would make (or in none, where click refuses it)."""
    from pyrt.cli import pyrt_commands
    monkeypatch.delenv("PYRT_ROOT", raising=False)
    clicked = _click_pull(argv, monkeypatch)
    fast = pyrt_cli._plain_pull(list(argv))
    if fast is not None:
        assert fast == clicked
    calls = []
    import inspect
    keys = list(inspect.signature(pyrt_cli.pull_image).parameters)
    monkeypatch.setattr(pyrt_cli, "pull_image", lambda **kw: calls.append(("fast", kw)))
    monkeypatch.setattr(pyrt_commands, "pull_image", lambda *a: calls.append(("click", dict(zip(keys, a)))))
    try:
        pyrt_cli.main(list(argv))
    except SystemExit as e:
        assert e.code != 0 and clicked is None, (e.code, clicked)
    assert calls == ([] if clicked is None else [("fast" if fast is not None else "click", clicked)])


@pytest.mark.parametrize("argv, root", [(["--root", "-r", "pull", "x"], "-r"), (["--root", "--", "pull", "x"], "--")])
def test_what_the_fast_path_leaves_click_reads_the_same(argv, root, monkeypatch):
    monkeypatch.delenv("PYRT_ROOT", raising=False)
    assert _click_pull(argv, monkeypatch) == dict(_PULL_DEFAULTS, root=root, reference="x")


def test_pull_click_options_come_from_the_table():
    """pyrt_commands builds `pull` from pyrt.cli.pyrt.PULL: same flags, kinds and help as before."""
    import click

    from pyrt.cli import pyrt_commands
    cmd = pyrt_commands.cli.commands["pull"]
    opts = {p.name: p for p in cmd.params if isinstance(p, click.Option)}
    assert [(p.opts, p.help) for p in opts.values()] == [(list(o.names), o.help) for o in pyrt_cli.PULL.opts]
    assert opts["quiet"].is_flag and not opts["platform"].is_flag and opts["platform"].default is None
    tls = opts["tls_verify"]
    assert (tls.type, tls.is_flag, tls.flag_value, tls.default) == (click.BOOL, False, True, None)
    assert [p.name for p in cmd.params if isinstance(p, click.Argument)] == ["reference"]
    assert cmd.help == "Pull an image from a registry."


def test_pull_help_names_every_option_of_the_table():
    out = subprocess.run([os.path.join(VENV_BIN, "pyrt"), "pull", "--help"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("Usage: pyrt pull [OPTIONS] REFERENCE\n"), out
    for opt in pyrt_cli.PULL.opts:
        for flag in opt.names:
            assert flag in out.stdout, flag
        assert opt.help.split()[0] in out.stdout, opt.help


@pytest.mark.parametrize("argv, msg", [
    (["--pull=1"], "unknown option --pull"),
    (["-q=1"], "-q takes no value"),
    (["--tls-verify"], "--tls-verify wants --tls-verify=true or --tls-verify=false"),
    (["--tls-verify=yes"], "--tls-verify must be true or false"),
    (["--name", "-x"], "--name needs a value"),
    (["--name="], "--name needs a value"),
    ([""], "empty argument"),
    (["--", "x"], "-- is left to the full parser"),
    (["-"], "unknown option -"),
])
def test_strict_mode_refuses_what_click_might_read_otherwise(argv, msg):
    opts = [Opt(("-q",), "q", "flag", False), Opt(("--tls-verify",), "tls", "bool"), Opt(("--name",), "name")]
    with pytest.raises(UsageError) as e:
        argtable.parse(opts, argv, "w", False, strict=True)
    assert str(e.value) == f"w: {msg}"


def test_default_mode_reads_like_runc():
    opts = [Opt(("-q",), "q", "flag", False), Opt(("--name",), "name")]
    assert argtable.parse(opts, ["-q=0", "--name", "-x", "", "-", "--", "-q"], "w", False) == (
        {"q": False, "name": "-x"}, ["", "-", "-q"])
    assert argtable.parse(opts, ["--name=", "-q=yes"], "w", False) == ({"q": True, "name": ""}, [])


def test_bind_positionals_and_rest():
    cmd = Cmd("v", "", [Opt(("-a",), "a", "flag", False)], [("first", True), ("second", False)], rest="more",
              interspersed=False)
    assert argtable.bind(cmd, ["-a", "x", "-a", "y", "z"]) == {"a": True, "first": "x", "second": "-a",
                                                               "more": ["y", "z"]}
    assert argtable.bind(cmd, ["x"]) == {"a": False, "first": "x", "second": None, "more": []}


def test_importing_argtable_is_cheap():
    code = "import sys, pyrt.cli.argtable; print(sorted(m for m in ('click', 'json', 'logging') if m in sys.modules))"
    out = subprocess.run([os.path.join(VENV_BIN, "python"), "-I", "-c", code], capture_output=True,
                         text=True, timeout=30)
    assert out.stdout.split() == ["[]"], out
