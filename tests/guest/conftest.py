"""tests/guest: collected only inside the guest (PYRT_IN_GUEST=1, set by run.py's job).

On the host the test files are ignored outright rather than skipped, so a normal run shows no
skips; tests/integration/test_guest_v2.py boots the guest and reports on these tests instead.
Outcomes reach the host through the plugin tests/guest/report.py (loaded for the whole run).
"""
from __future__ import annotations

import os

IN_GUEST = os.environ.get("PYRT_IN_GUEST") == "1"

collect_ignore_glob = [] if IN_GUEST else ["test_*.py"]


if IN_GUEST:
    import itertools
    import subprocess

    import pytest

    from tests.support.cgroup import remove_tree

    _n = itertools.count()

    @pytest.fixture
    def v2_parent():
        """A fresh cgroup under the guest's root, given to the runtimes as the parent of their
        containers (a relative cgroupsPath 'guest-N/<id>'). At the end it must have no children
        left (delete removes a container's cgroup), then it is removed."""
        name = f"guest-{os.getpid()}-{next(_n)}"
        path = os.path.join("/sys/fs/cgroup", name)
        os.mkdir(path)
        yield name
        left = [d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))]
        for d in left:
            remove_tree(os.path.join(path, d))
        os.rmdir(path)
        assert not left, f"container cgroups left behind under {path}: {left}"

    @pytest.fixture(scope="session")
    def zram_swap():
        """256 MiB of swap on zram (the zram module is loaded by the guest's init)."""
        with open("/sys/block/zram0/disksize", "w") as f:
            f.write(str(256 << 20))
        subprocess.run(["mkswap", "/dev/zram0"], check=True, capture_output=True)
        subprocess.run(["swapon", "/dev/zram0"], check=True)
        yield "/dev/zram0"
        subprocess.run(["swapoff", "/dev/zram0"], check=True)

    @pytest.fixture(scope="session")
    def loop_device(tmp_path_factory):
        """(major, minor) of a loop device over a file on tmpfs, with BFQ as its scheduler."""
        img = tmp_path_factory.mktemp("loop") / "disk.img"
        with open(img, "wb") as f:
            f.truncate(16 << 20)
        dev = subprocess.run(["losetup", "--find", "--show", str(img)], check=True,
                             capture_output=True, text=True).stdout.strip()
        try:
            with open(f"/sys/block/{os.path.basename(dev)}/queue/scheduler", "w") as f:
                f.write("bfq")
            st = os.stat(dev)
            yield os.major(st.st_rdev), os.minor(st.st_rdev)
        finally:
            subprocess.run(["losetup", "--detach", dev], check=True)

    @pytest.fixture(autouse=True)
    def no_state_left():
        """Every container a test made is deleted again: its runtime's --root (ctr.py puts them
        under /run/guest-test-<runtime>) holds no state afterwards."""
        yield
        import glob
        left = [p for p in glob.glob("/run/guest-test-*/*")]
        for p in left:
            subprocess.run(["rm", "-rf", p])
        assert not left, f"runtime state left behind: {left}"

    @pytest.fixture(params=["runc", "pyrt-runc"])
    def runtime(request):
        """Each behaviour test runs under runc too: it proves the test itself right on this
        kernel, so a pyrt-runc failure is pyrt's."""
        return request.param

