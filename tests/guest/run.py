"""Run a pytest selection inside a throwaway qemu guest with a pure cgroup v2 hierarchy.

    python -m tests.guest.run [pytest args...]        (default selection: tests/guest)
    make guest-test T="tests/guest/test_x.py -k y"

The guest boots a Debian kernel (prepared by rootfs-tools/guest/prepare.py) under software
emulation; its root is this host's / shared read-only over virtio-9p with a tmpfs overlay on top,
so the same checkout and venv run inside and nothing reaches the host. A private work directory
(a second, writable 9p share, seen at the same path in the guest) carries the job script in and the
exit code and per-test results out. The exit code is pytest's in the guest; HARNESS_FAILED when
the guest did not boot or did not finish, with the tail of its console printed.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREPARE = os.path.join(REPO, "rootfs-tools", "guest", "prepare.py")
QEMU = "qemu-system-x86_64"
QBOOT = "/usr/share/qemu/qboot.rom"
HARNESS_FAILED = 125
# A guest is given up on when it stops making progress (no new byte of output or results for
# DEFAULT_TIMEOUT s: every guest test ends within its own pytest timeout, 300 s, and prints a
# line), not after a fixed total: under emulation on a loaded 2-core host the same job takes
# anywhere from ~8 to over 20 minutes. DEFAULT_LIMIT only bounds a guest that keeps talking.
DEFAULT_TIMEOUT = int(os.environ.get("PYRT_GUEST_TIMEOUT", "900"))
DEFAULT_LIMIT = int(os.environ.get("PYRT_GUEST_LIMIT", "3600"))

# The job runs as PID 1 of the guest once init.sh has switched to the overlay root. It must end
# by rebooting (qemu's -no-reboot turns that into an exit); the exit code travels in a file
# because the last bytes on a serial port may be lost when the machine goes down.
JOB = """\
exec </dev/null >/dev/ttyS1 2>&1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
export PYRT_IN_GUEST=1 PYRT_GUEST_RESULTS={work}/results.jsonl PYRT_GUEST_ROOTFS={work}/rootfs
# A fresh tmpfs for temp files: the host's /tmp shows through the overlay (9p lookups, clutter).
export TMPDIR=/run/tmp
mkdir -m 1777 -p $TMPDIR
stty -onlcr 2>/dev/null
cd {repo}
echo "pyrt-guest: up after $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r)"
{python} -m pytest -p no:cacheprovider -p tests.guest.report --color=no -v --tb=short {args}
echo $? >{work}/rc
sync
echo b >/proc/sysrq-trigger
"""


@dataclasses.dataclass
class GuestRun:
    rc: int                    # pytest's exit code in the guest, or HARNESS_FAILED
    reason: str                # why the harness failed; "" when pytest ran to its end
    results: dict[str, dict]   # nodeid -> {"outcome", "when", "duration", "longrepr"}
    output: str                # the job's output (ttyS1)
    console: str               # the kernel console (ttyS0)
    seconds: float

    def tail(self, lines: int = 40) -> str:
        def last(text):
            return "\n".join(text.rstrip().splitlines()[-lines:])
        return (f"--- guest console (tail) ---\n{last(self.console)}\n"
                f"--- guest output (tail) ---\n{last(self.output)}")


def _prepare() -> dict:
    p = subprocess.run([sys.executable if os.geteuid() else "/usr/bin/python3", PREPARE],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise _Fail(f"guest preparation failed ({PREPARE}): {p.stderr.strip()[-2000:]}")
    with open(p.stdout.strip()) as f:
        return json.load(f)


class _Fail(Exception):
    pass


def _absolute(args: list[str]) -> list[str]:
    """Path arguments relative to the caller's directory; the guest runs pytest from REPO."""
    out = []
    for a in args:
        path, sep, rest = a.partition("::")
        if not a.startswith("-") and os.path.exists(path):
            a = os.path.abspath(path) + sep + rest
        out.append(a)
    return out


def _qemu_argv(man: dict, work: str, smp: int, mem: str) -> list[str]:
    qemu = shutil.which(QEMU)
    if not qemu:
        raise _Fail(f"{QEMU} not found: install qemu-system-x86 (rootfs-tools/setup-host.sh does)")
    if not os.path.isfile(QBOOT):
        raise _Fail(f"{QBOOT} not found: it comes with qemu-system-data")
    return [
        qemu, "-M", "pc", "-bios", QBOOT,
        # /dev/kvm on this kind of VM is paravirtual without vmx/svm: the stock kernel only
        # boots usefully under software emulation.
        "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", str(smp), "-m", mem,
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-nic", "none",
        "-kernel", man["kernel"], "-initrd", man["initrd"],
        "-append", f"console=ttyS0 quiet loglevel=3 panic=-1 pyrt.work={work}",
        "-chardev", f"file,id=s0,path={work}/console.log", "-serial", "chardev:s0",
        "-chardev", f"file,id=s1,path={work}/output.log", "-serial", "chardev:s1",
        "-fsdev", "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=root,mount_tag=hostroot",
        "-fsdev", f"local,id=work,path={work},security_model=passthrough",
        "-device", "virtio-9p-pci,fsdev=work,mount_tag=pyrtwork",
    ]


def _die_with_parent() -> None:
    """In qemu's child before exec: a killed test run must not leave a guest running."""
    import prctl
    prctl.set_pdeathsig(signal.SIGKILL)


def _echo_new(path: str, seen: int, echo) -> int:
    """Pass what PATH gained since offset SEEN to ECHO; return the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(seen)
            chunk = f.read()
    except FileNotFoundError:
        return seen
    if chunk:
        echo(chunk.decode(errors="replace"))
    return seen + len(chunk)


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _progress(work: str) -> int:
    """How much the guest has written so far (its console, the job's output, results)."""
    total = 0
    for name in ("console.log", "output.log", "results.jsonl"):
        try:
            total += os.stat(os.path.join(work, name)).st_size
        except FileNotFoundError:
            pass
    return total


def run(pytest_args: list[str] | None = None, *, timeout: int = DEFAULT_TIMEOUT, limit: int = DEFAULT_LIMIT,
        echo=None, smp: int = 2, mem: str = "1G") -> GuestRun:
    """Boot the guest, run pytest on PYTEST_ARGS in it and collect what happened.
    The guest is stopped when it has written nothing for TIMEOUT s, or after LIMIT s in all.
    ECHO, if given, is called with each new chunk of the job's output as it arrives."""
    args = _absolute(pytest_args or [os.path.join(REPO, "tests", "guest")])
    work = tempfile.mkdtemp(prefix="pyrt-guest-")
    start = time.monotonic()
    proc = None
    reason = ""
    try:
        try:
            man = _prepare()
            argv = _qemu_argv(man, work, smp, mem)
            # The busybox rootfs takes ~10 s to lay out under emulation, 0.1 s here: build it here.
            p = subprocess.run([os.path.join(REPO, "rootfs-tools", "busybox-rootfs.sh"),
                                os.path.join(work, "rootfs")], capture_output=True, text=True)
            if p.returncode != 0:
                raise _Fail(f"busybox-rootfs.sh failed: {p.stderr.strip()[-1000:]}")
        except _Fail as e:
            return GuestRun(HARNESS_FAILED, str(e), {}, "", "", 0.0)
        python = os.path.join(REPO, ".venv", "bin", "python")
        with open(os.path.join(work, "job"), "w") as f:
            f.write(JOB.format(work=work, repo=shlex.quote(REPO), python=shlex.quote(python),
                               args=" ".join(shlex.quote(a) for a in args)))
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        seen = 0
        written, last_progress = -1, time.monotonic()
        while True:
            done = proc.poll() is not None
            if echo:
                seen = _echo_new(os.path.join(work, "output.log"), seen, echo)
            if done:
                break
            now = time.monotonic()
            if (n := _progress(work)) != written:
                written, last_progress = n, now
            if now - last_progress > timeout:
                reason = f"guest timed out after {timeout} s without new output ({now - start:.0f} s in all)"
                break
            if now - start > limit:
                reason = f"guest still running after its limit of {limit} s"
                break
            time.sleep(0.25)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        qemu_msg = proc.stdout.read().decode(errors="replace").strip()
        rc_text = _read(os.path.join(work, "rc")).strip()
        if not reason and not rc_text.isdigit():
            reason = f"guest did not finish its job (qemu exit {proc.returncode})"
            if qemu_msg:
                reason += f": {qemu_msg[-1000:]}"
        results = {}
        for line in _read(os.path.join(work, "results.jsonl")).splitlines():
            r = json.loads(line)
            results[r.pop("nodeid")] = r
        return GuestRun(int(rc_text) if not reason else HARNESS_FAILED, reason, results,
                        _read(os.path.join(work, "output.log")),
                        _read(os.path.join(work, "console.log")), time.monotonic() - start)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    def echo(chunk):
        sys.stdout.write(chunk)
        sys.stdout.flush()

    r = run(argv, echo=echo)
    if r.reason:
        print(r.tail(), file=sys.stderr)
        print(f"guest-test: {r.reason}", file=sys.stderr)
    else:
        print(f"guest-test: pytest exited {r.rc} in the guest ({r.seconds:.0f} s in all)")
    return r.rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
