"""`pyrt pull` without click: its flag table and its work.

Both readers of a pull call pull_image: the fast path of pyrt.cli.pyrt (plain spellings, read by
pyrt.cli.argtable over PULL, without importing click: ~10-20 ms of a ~130 ms small pull) and
click's `pull` in pyrt.cli.pyrt_images, whose options are built from the same PULL table.
"""
from __future__ import annotations

import sys

from pyrt.cli.argtable import Cmd, Opt

DEFAULT_ROOT = "/var/lib/pyrt"
# What a verb returns to pyrt.cli.pyrt.main() when its work is all on disk and its output written:
# main may then skip the interpreter's teardown.
EXIT_AT_ONCE = "exit-at-once"


def pull_image(root: str, reference: str, platform: str | None, tls_verify: bool | None,
               authfile: str | None, quiet: bool, low_speed_limit: int | None = None,
               low_speed_time: int | None = None, timeout: int | None = None) -> None:
    """`pyrt pull`, for both parsers."""
    from pyrt.cli import pull_progress as progress
    from pyrt.image import manifest
    from pyrt.image.pull import PullOptions, pull as do_pull
    from pyrt.image.store import ImageStore
    opts = PullOptions(platform=manifest.parse_platform(platform) if platform else None,
                       tls_verify=tls_verify, authfile=authfile, low_speed_limit=low_speed_limit,
                       low_speed_time=low_speed_time, timeout=timeout)
    record = do_pull(ImageStore(root), reference, opts, progress.for_stream(quiet))
    sys.stdout.write(record.id + "\n")
    sys.stdout.flush()


PULL = Cmd("pull", "Pull an image from a registry.", [
    Opt(("--platform",), "platform", help="os/arch[/variant] to pick from a multi-arch image."),
    Opt(("--tls-verify",), "tls_verify", "bool",
        help="Verify the registry's TLS certificate (--tls-verify=false for local registries)."),
    Opt(("--authfile",), "authfile", help="Credentials file to use first."),
    Opt(("-q", "--quiet"), "quiet", "flag", False, "No progress output; print only the image id."),
    Opt(("--low-speed-limit",), "low_speed_limit", "int",
        help="Fail below this many bytes/s (default 1024; PYRT_PULL_LOW_SPEED_LIMIT)."),
    Opt(("--low-speed-time",), "low_speed_time", "int",
        help="... averaged over this many s (default 60, 0: off; PYRT_PULL_LOW_SPEED_TIME)."),
    Opt(("--timeout",), "timeout", "int", help="Fail after this many s (default 0: never; PYRT_PULL_TIMEOUT)."),
], [("reference", True)])
