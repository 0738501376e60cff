#!/usr/bin/env python3
"""Pull + unpack from a loopback registry: pyrt vs podman vs skopeo+umoci vs plain tar -xzf.

    .venv/bin/python bench/pull.py [--runs N] [--only busybox|debian]

Images: busybox (one ~1 MB gzip layer, from rootfs-tools/build-images.py) and a Debian
bookworm minbase rootfs made with debootstrap from the apt mirror, as one gzip layer.
The debootstrap tree and the layouts are cached under /var/tmp/pyrt-bench ($PYRT_BENCH_CACHE),
so only the first run pays for them. Both are pushed with skopeo to a docker-registry started here on
127.0.0.1. Every run of every tool starts from an empty store in a fresh temp dir; the tools
take turns in each round, and the medians are reported with ratios (targets: pyrt <= 0.8x
podman, <= 1.1x tar).

podman and skopeo run in a private mount namespace with a tmpfs over /var/lib, and podman
with --root/--runroot/--tmpdir in the temp dir: the host's container storage is never touched.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.support.registry import Registry, builder  # noqa: E402

CACHE = os.environ.get("PYRT_BENCH_CACHE", "/var/tmp/pyrt-bench")
PYRT = os.path.join(REPO, ".venv", "bin", "pyrt")
ISOLATED = 'mount -t tmpfs -o size=64m pyrt-bench /var/lib && exec "$@"'


def apt_mirror() -> str:
    """The Debian mirror apt is configured with (the only one reachable here)."""
    for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if parts[:1] == ["URIs:"] and "security" not in parts[1]:
                        return parts[1]
                    if parts[:1] == ["deb"] and "security" not in line:
                        return next(p for p in parts[1:] if p.startswith("http"))
        except FileNotFoundError:
            continue
    return "http://deb.debian.org/debian"


def debian_tar() -> str:
    """An uncompressed tar of a debootstrap --variant=minbase bookworm tree (cached)."""
    out = os.path.join(CACHE, "minbase.tar")
    if os.path.exists(out):
        return out
    os.makedirs(CACHE, exist_ok=True)
    tree = tempfile.mkdtemp(prefix="minbase-", dir=CACHE)
    try:
        print(f"bench: debootstrap --variant=minbase bookworm (mirror {apt_mirror()}), once", file=sys.stderr)
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", tree, apt_mirror()],
                       check=True, stdout=subprocess.DEVNULL)
        # apt's downloaded .debs are not part of an image.
        shutil.rmtree(os.path.join(tree, "var", "cache", "apt", "archives"), ignore_errors=True)
        subprocess.run(["tar", "--numeric-owner", "--sort=name", "--mtime=@1700000000", "-C", tree,
                        "-cf", out + ".tmp", "."], check=True)
        os.rename(out + ".tmp", out)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return out


def debian_layout() -> str:
    path = os.path.join(CACHE, "layouts", "debian")
    if os.path.exists(os.path.join(path, "index.json")):
        return path
    shutil.rmtree(path, ignore_errors=True)
    tar = debian_tar()
    layout = builder.Layout(path)
    gz = os.path.join(path, "layer.tmp")
    with open(gz, "wb") as f:
        subprocess.run(["gzip", "-6", "-n", "-c", tar], stdout=f, check=True)
    diff_id = subprocess.run(["sha256sum", tar], capture_output=True, text=True, check=True).stdout.split()[0]
    ldesc = layout.blob_file(gz, builder.LAYER_TYPES["gzip"])
    import json
    config = {"created": builder.CREATED, "architecture": "amd64", "os": "linux",
              "config": {"Cmd": ["/bin/bash"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]}}
    cdesc = layout.blob(json.dumps(config).encode(), builder.OCI_CONFIG)
    mdesc = layout.blob(json.dumps({"schemaVersion": 2, "mediaType": builder.OCI_MANIFEST,
                                    "config": cdesc, "layers": [ldesc]}).encode(), builder.OCI_MANIFEST)
    layout.write_index(mdesc)
    return path


def layer_blob(layout: str) -> str:
    import json
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs", "sha256", top[7:])) as f:
        layer = json.load(f)["layers"][0]["digest"]
    return os.path.join(layout, "blobs", "sha256", layer[7:])


# -- the contenders: each gets an empty dir and a reference, returns nothing ------------------
def run_pyrt(d: str, ref: str, blob: str) -> None:
    conf = os.path.join(d, "registries.conf")
    open(conf, "w").close()
    env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=conf)
    # As installed pyrt runs from cached bytecode; do not let a dev-shell setting recompile it each run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([PYRT, "--root", os.path.join(d, "root"), "pull", "-q", "--tls-verify=false", ref],
                   check=True, stdout=subprocess.DEVNULL, env=env)


def run_podman(d: str, ref: str, blob: str) -> None:
    run = tempfile.mkdtemp(prefix="pyrt-br-", dir="/tmp")      # podman wants a runroot <= 50 chars
    try:
        subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", ISOLATED, "podman",
                        "podman", "--root", os.path.join(d, "root"), "--runroot", run,
                        "--tmpdir", os.path.join(d, "tmp"), "--events-backend", "none", "--storage-driver", "overlay",
                        "--cgroup-manager", "cgroupfs", "pull", "-q", "--tls-verify=false", ref],
                       check=True, stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(run, ignore_errors=True)


def run_skopeo_umoci(d: str, ref: str, blob: str) -> None:
    subprocess.run(builder.skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                                  f"oci:{d}/layout:latest"), check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["umoci", "unpack", "--image", f"{d}/layout:latest", f"{d}/bundle"],
                   check=True, stdout=subprocess.DEVNULL)


def run_tar(d: str, ref: str, blob: str) -> None:
    os.makedirs(f"{d}/rootfs")
    subprocess.run(["tar", "-xzf", blob, "-C", f"{d}/rootfs"], check=True)


TOOLS = [("pyrt", run_pyrt), ("podman", run_podman), ("skopeo+umoci", run_skopeo_umoci), ("tar -xzf", run_tar)]


def bench(name: str, ref: str, blob: str, runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {t: [] for t, _ in TOOLS}
    for tool, fn in TOOLS:      # one untimed warm-up each: bytecode caches, page cache
        d = tempfile.mkdtemp(prefix="warmup-", dir=CACHE)
        try:
            fn(d, ref, blob)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    for i in range(runs):
        for tool, fn in TOOLS:
            d = tempfile.mkdtemp(prefix=f"run-{tool.split()[0]}-", dir=CACHE)
            try:
                t0 = time.perf_counter()
                fn(d, ref, blob)
                times[tool].append(time.perf_counter() - t0)
            finally:
                shutil.rmtree(d, ignore_errors=True)
        print(f"bench: {name} round {i + 1}/{runs}: " +
              ", ".join(f"{t} {v[-1]:.2f}s" for t, v in times.items()), file=sys.stderr)
    return {t: statistics.median(v) for t, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", choices=["busybox", "debian"])
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    layouts = {}
    if a.only in (None, "busybox"):
        layouts["busybox"] = builder.build_all(os.path.join(CACHE, "layouts"))["busybox"]
    if a.only in (None, "debian"):
        layouts["debian"] = debian_layout()
    regdir = tempfile.mkdtemp(prefix="registry-", dir=CACHE)
    reg = Registry(regdir)
    results = {}
    try:
        for name, layout in layouts.items():
            ref = f"{reg.host}/bench/{name}:latest"
            builder.push(layout, ref)
            size = os.path.getsize(layer_blob(layout))
            results[name] = (size, bench(name, ref, layer_blob(layout), a.runs if name == "busybox" else max(3, a.runs // 2 + 1)))
    finally:
        reg.stop()
        shutil.rmtree(regdir, ignore_errors=True)
    print("\npull + unpack from a loopback registry, medians in seconds")
    head = f"{'image':<10}{'layer':>9}" + "".join(f"{t:>14}" for t, _ in TOOLS) + f"{'pyrt/podman':>13}{'pyrt/tar':>10}"
    print(head)
    for name, (size, med) in results.items():
        print(f"{name:<10}{size / 1e6:>7.1f}MB" + "".join(f"{med[t]:>14.3f}" for t, _ in TOOLS) +
              f"{med['pyrt'] / med['podman']:>13.2f}{med['pyrt'] / med['tar -xzf']:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
