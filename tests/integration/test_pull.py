"""pyrt pull against a real registry (docker-registry 2.8), images pushed by skopeo.

Every pull is cross-checked with the independent client: the manifest and config digests
pyrt records equal `skopeo inspect`'s, and the unpacked layers show what the image holds.
"""
import json
import os

import pytest

from pyrt.image.store import ImageStore
from tests.support.pyrtcli import pyrt
from tests.support.registry import builder, skopeo_inspect

pytest_plugins = ["tests.support.registry_fixtures"]


def _inspect(root, name):
    r = pyrt(root, "image", "inspect", name)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def _merged(store, record):
    """The image's files as overlay would show them: top layer wins, whiteouts hide."""
    view = {}
    for d in store.layer_dirs(record):
        for dirpath, dirs, files in os.walk(d):
            rel = os.path.relpath(dirpath, d)
            for name in dirs + files:
                p = os.path.normpath(os.path.join(rel, name))
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                if (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0:      # overlay whiteout
                    for k in [k for k in view if k == p or k.startswith(p + "/")]:
                        del view[k]
                    continue
                try:
                    if os.getxattr(full, "trusted.overlay.opaque") == b"y":
                        for k in [k for k in view if k.startswith(p + "/")]:
                            del view[k]
                except OSError:
                    pass
                if os.path.islink(full):
                    view[p] = "->" + os.readlink(full)
                elif os.path.isdir(full):
                    view[p] = None
                else:
                    with open(full) as f:
                        view[p] = f.read() if st.st_size < 4096 else "<big>"
    return view


@pytest.mark.parametrize("name", ["busybox", "busybox-docker", "zstd", "plain", "multilayer"])
def test_pull_matches_skopeo(pushed, store_root, name):
    ref = pushed[name]
    r = pyrt(store_root, "pull", "--tls-verify=false", ref)
    assert r.returncode == 0, r.stderr
    info = _inspect(store_root, ref)
    sk = skopeo_inspect(ref)
    raw_config = skopeo_inspect(ref, "--config")
    assert info["Digest"] == sk["Digest"]
    assert r.stdout.strip() == info["Id"]
    assert info["RepoDigests"] == [ref.rsplit(":", 1)[0] + "@" + sk["Digest"]]
    assert info["RootFS"]["Layers"] == raw_config["rootfs"]["diff_ids"]
    assert [layer["Digest"] for layer in info["Layers"]] == sk["Layers"]
    # The id is the config's digest, as the manifest skopeo reads names it.
    assert info["Id"] == skopeo_inspect(ref, "--raw")["config"]["digest"]
    assert raw_config["config"] == info["Config"]
    store = ImageStore(store_root)
    rec = store.resolve(ref)
    for layer in rec.layers:
        assert store.content.has(layer.digest) and store.has_layer(layer.diff_id)
    assert store.content.ingests() == []


def test_docker_schema2_manifest_type(pushed, store_root):
    assert pyrt(store_root, "pull", "--tls-verify=false", "-q", pushed["busybox-docker"]).returncode == 0
    info = _inspect(store_root, pushed["busybox-docker"])
    assert info["ManifestMediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert info["Layers"][0]["MediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"


def test_multilayer_merged_view(pushed, store_root):
    assert pyrt(store_root, "pull", "--tls-verify=false", "-q", pushed["multilayer"]).returncode == 0
    store = ImageStore(store_root)
    view = _merged(store, store.resolve(pushed["multilayer"]))
    for path, want in builder.MULTILAYER_VIEW.items():
        assert view.get(path, "<absent>") == want, path
    for gone in builder.MULTILAYER_GONE:
        assert gone not in view


def test_image_config_handed_on(pushed, store_root):
    assert pyrt(store_root, "pull", "--tls-verify=false", "-q", pushed["busybox"]).returncode == 0
    store = ImageStore(store_root)
    cfg = store.config(store.resolve(pushed["busybox"]))
    assert cfg.cmd == ("/bin/sh",) and cfg.working_dir == "/" and cfg.stop_signal == "SIGTERM"
    assert cfg.exposed_ports == ("8080/tcp",) and cfg.labels == {"org.pyrt.test": "busybox"}
    assert any(e.startswith("PATH=") for e in cfg.env)
    # The busybox binary is there, executable, in the single layer.
    (layer,) = store.layer_dirs(store.resolve(pushed["busybox"]))
    assert os.access(os.path.join(layer, "bin", "busybox"), os.X_OK)


def test_multiarch_picks_host_then_platform(pushed, store_root):
    ref = pushed["multiarch"]
    sk_index = skopeo_inspect(ref, "--raw")
    by_arch = {m["platform"]["architecture"]: m["digest"] for m in sk_index["manifests"]}
    assert pyrt(store_root, "pull", "--tls-verify=false", "-q", ref).returncode == 0
    info = _inspect(store_root, ref)
    assert info["Digest"] == by_arch["amd64"] and info["Architecture"] == "amd64"
    assert info["RepoDigests"][0].endswith(skopeo_inspect(ref)["Digest"])   # pulled by the index digest
    r = pyrt(store_root, "pull", "--tls-verify=false", "-q", "--platform", "linux/arm64", ref)
    assert r.returncode == 0, r.stderr
    info = _inspect(store_root, r.stdout.strip())
    assert info["Digest"] == by_arch["arm64"] and (info["Architecture"], info["Variant"]) == ("arm64", "v8")
    store = ImageStore(store_root)
    (layer,) = store.layer_dirs(store.resolve(r.stdout.strip()))
    with open(os.path.join(layer, "etc", "arch")) as f:
        assert f.read() == "arm64/v8\n"
    r = pyrt(store_root, "pull", "--tls-verify=false", "--platform", "linux/mips64", ref)
    assert r.returncode == 9 and "no image for platform linux/mips64" in r.stderr


def test_pull_by_digest(pushed, store_root):
    ref = pushed["busybox"]
    digest = skopeo_inspect(ref)["Digest"]
    byd = ref.rsplit(":", 1)[0] + "@" + digest
    r = pyrt(store_root, "pull", "--tls-verify=false", "-q", byd)
    assert r.returncode == 0, r.stderr
    out = pyrt(store_root, "images", "--format", "json")
    rows = json.loads(out.stdout)
    assert rows == [dict(rows[0], Repository="<none>", Tag="<none>", Digest=digest)]
    assert _inspect(store_root, byd)["Digest"] == digest


def test_not_found(pushed, store_root, open_registry):
    r = pyrt(store_root, "pull", "--tls-verify=false", f"{open_registry.host}/pyrt/nope:latest")
    assert r.returncode == 9
    assert r.stderr == f"pyrt: image not found: {open_registry.host}/pyrt/nope:latest\n"
    r = pyrt(store_root, "pull", "--tls-verify=false", pushed["busybox"].replace(":latest", ":no-such-tag"))
    assert r.returncode == 9 and "image not found" in r.stderr
    assert ImageStore(store_root).records() == []


def test_invalid_reference(store_root):
    r = pyrt(store_root, "pull", "Bad/Name")
    assert r.returncode == 9 and r.stderr.startswith("pyrt: invalid reference format") and "Traceback" not in r.stderr


def test_tls_required_by_default(open_registry, store_root):
    r = pyrt(store_root, "pull", f"{open_registry.host}/pyrt/busybox")
    assert r.returncode == 10 and "--tls-verify=false" in r.stderr


def test_short_name_via_registries_conf(pushed, store_root, open_registry, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text(f'unqualified-search-registries = ["{open_registry.host}"]\n'
                    f'[[registry]]\nlocation = "{open_registry.host}"\ninsecure = true\n')
    r = pyrt(store_root, "pull", "pyrt/busybox")
    assert r.returncode == 0, r.stderr
    assert pyrt(store_root, "images", "-q").stdout.strip() == r.stdout.strip().splitlines()[-1][7:19]
    assert pyrt(store_root, "images").stdout.splitlines()[1].split()[:2] == [f"{open_registry.host}/pyrt/busybox", "latest"]


def test_output_modes(pushed, store_root):
    r = pyrt(store_root, "pull", "--tls-verify=false", pushed["multilayer"])
    assert r.returncode == 0
    lines = r.stderr.splitlines()
    assert sum(line.startswith("Copying layer ") for line in lines) == 3
    assert sum(line.startswith("Download complete: ") for line in lines) == 3
    assert lines[-1].startswith("Pulled ")
    # A second pull: everything is there already.
    r = pyrt(store_root, "pull", "--tls-verify=false", pushed["multilayer"])
    assert sum(line.startswith("Already exists: ") for line in r.stderr.splitlines()) == 3
    r = pyrt(store_root, "pull", "--tls-verify=false", "-q", pushed["multilayer"])
    assert r.stderr == "" and r.stdout.startswith("sha256:")


def test_progress_bars_on_tty(pushed, store_root):
    import pty
    import subprocess
    from tests.support.bundle import PYRT
    from tests.support.pyrtcli import pyrt_env
    master, slave = pty.openpty()
    try:
        p = subprocess.run([PYRT, "--root", store_root, "pull", "--tls-verify=false", pushed["busybox"]],
                           stdout=subprocess.PIPE, stderr=slave, env=pyrt_env(os.path.dirname(store_root)), timeout=60)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    assert p.returncode == 0
    text = out.decode()
    assert "\x1b[" in text and "Download complete" in text and "/s" in text
