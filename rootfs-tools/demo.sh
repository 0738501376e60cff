#!/usr/bin/env bash
# The README's demo: build a busybox bundle offline and run it under pyrt-runc.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=$(mktemp -d /tmp/pyrt-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
./rootfs-tools/busybox-rootfs.sh "$bundle/rootfs"
cd "$bundle"
"$OLDPWD/.venv/bin/pyrt-runc" spec
# A non-interactive demo: no terminal, print who and where we are.
"$OLDPWD/.venv/bin/python" - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo hello from pyrt: pid $$, hostname $(hostname), uid $(id -u); ls /"]
json.dump(c, open("config.json", "w"), indent=2)
PY
"$OLDPWD/.venv/bin/pyrt-runc" --root /run/pyrt-runc run "pyrt-demo-$$"

# The docker-like engine on the same rootfs, imported as an image (no registry needed), with its
# default network (bridge pyrt0, 10.88.0.0/16, NAT) made inside a throwaway network namespace: a
# demo leaves no bridge, nftables table or ip_forward=1 on the host. The namespace goes when the
# engine's monitor, started in it, exits (a second after its last container).
store=$(mktemp -d /tmp/pyrt-demo-store.XXXXXX)
trap 'rm -rf "$bundle"; "$OLDPWD/.venv/bin/pyrt" --root "$store/root" --run-root "$store/run" container prune -f >/dev/null 2>&1; rm -rf "$store"' EXIT
tar -C "$bundle/rootfs" -cf "$store/busybox.tar" .
unshare --net bash -s "$OLDPWD/.venv/bin/pyrt" "$store" <<'SH'
set -euo pipefail
ip link set lo up
P=("$1" --root "$2/root" --run-root "$2/run" --cgroup-parent pyrt-demo)
"${P[@]}" import "$2/busybox.tar" busybox:latest >/dev/null
"${P[@]}" run --rm busybox sh -c 'echo hello from pyrt run: hostname $(hostname), caps $(grep CapEff /proc/self/status | cut -f2), eth0 $(ip -4 -o addr show eth0 | awk "{print \$4}")'
SH
