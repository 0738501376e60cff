#!/usr/bin/env bash
# Installs everything pyrt and its test suite need on a fresh Debian/Ubuntu host (run as root):
# system packages, a venv in .venv built on the system Python, and pyrt itself (which compiles cext/).
# Idempotent: a second run only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # build of cext/ and python-prctl
  gcc make python3-venv python3-dev libffi-dev libcap-dev libseccomp-dev
  # static glibc for the container probe of the differential tests (rootfs-tools/probe)
  libc6-dev
  # images and rootfs built offline for demos and tests
  busybox-static debootstrap zstd
  # Debian's own /etc/passwd and /etc/group (its masters) for the -u name tests (essential: named
  # so that a trimmed host says what the tests read)
  base-passwd
  # --init of `pyrt run`: a static tini bound into the container as its PID 1
  tini
  # fast layer decompression for unpack (igzip from ISA-L; pigz as a fallback)
  isal pigz
  # reference tools for differential tests and benchmarks; a real registry
  runc crun podman skopeo umoci docker-registry
  # real callers of pyrt-runc (tests/integration/test_podman.py, test_containerd.py)
  conmon containerd
  # the CNI plugins (bridge, host-local, loopback) of the CRI tests (tests/integration/test_cri.py)
  containernetworking-plugins
  # networking; iperf3 for bench/network.py's throughput (run in the containers' namespaces)
  iproute2 iptables iperf3
  # the throwaway cgroup-v2 guest (tests/guest)
  qemu-system-x86
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The system interpreter, not a pyenv shim: shims cost start-up time on every pyrt-runc call.
PY=/usr/bin/python3
stamp=.venv/.pyrt-installed
inputs=$(cat pyproject.toml setup.py cext/* | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$inputs" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip setuptools wheel cffi
  # compat mode: a plain .pth path entry; the default finder hook costs ~13 ms per start-up.
  # setuptools warns that compat is transitional: pyproject.toml caps setuptools below 85 for it.
  .venv/bin/pip install -q -e '.[test]' --config-settings editable_mode=compat
  echo "$inputs" > "$stamp"
fi
# pyrt-runc started without `site`, in UTF-8 mode, with pyrt's own module finder (see the script). After pip, which
# rewrites console scripts on every install.
.venv/bin/python rootfs-tools/fast-launcher.py
# Bytecode for pyrt itself (pip only compiles site-packages): with PYTHONDONTWRITEBYTECODE set, as on
# these VMs, every pyrt-runc call would otherwise recompile its modules (~30 ms per call).
.venv/bin/python -m compileall -q pyrt >/dev/null || echo "setup: some pyrt modules did not compile (see: .venv/bin/python -m compileall pyrt)" >&2
.venv/bin/python -c 'import pyrt._cext' || { echo "setup: cext did not build" >&2; exit 1; }
# Kernel + initramfs of the throwaway cgroup-v2 qemu guest (tests/guest); cached, fast when done.
# Not fatal here: tests/integration/test_guest_v2.py retries and fails with the reason.
"$PY" rootfs-tools/guest/prepare.py >/dev/null || echo "setup: cgroup-v2 guest not prepared" >&2
echo "setup: ok ($(.venv/bin/python --version), pyrt in .venv)"
