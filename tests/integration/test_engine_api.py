"""pyrt's Python API (pyrt.Client): every public call, its typed results and its documented
errors, against the real kernel and the same private roots as the CLI tests."""
from __future__ import annotations

import os
import time

import pytest

import pyrt
from pyrt.engine.model import LogLine, Mount, Volume
pytest_plugins = ["tests.support.engine_fixtures"]     # busybox_tar, eng


@pytest.fixture
def client(eng):
    return eng.client()


def test_run_returns_output_or_raises_container_error(client, eng):
    assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"
    with pytest.raises(pyrt.ContainerError) as e:
        client.containers.run("busybox", ["sh", "-c", "echo no >&2; exit 3"], remove=True)
    assert e.value.exit_status == 3 and e.value.stderr == b"no\n"
    assert eng.container_dirs() == []


def test_container_object_lifecycle(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2; sleep 300"], detach=True, name="api1",
                              labels={"team": "x"}, environment={"K": "V"})
    assert isinstance(c, pyrt.Container) and c.status == "running" and c.name == "api1"
    deadline = time.monotonic() + 20
    while c.logs() != b"a\nb\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c.logs(stderr=False) == b"a\n" and c.logs(stdout=False) == b"b\n"
    lines = list(c.logs(stream=True))
    assert all(isinstance(x, LogLine) for x in lines) and [x.stream for x in lines] == ["stdout", "stderr"]
    r = c.exec_run(["sh", "-c", "echo $K; exit 2"])
    assert (r.exit_code, r.output) == (2, b"V\n")
    assert "sleep 300" in " ".join(" ".join(p) for p in c.top()["Processes"])
    s = c.stats()
    assert s.pids >= 1 and s.memory_usage > 0
    c.pause()
    assert c.status == "paused"
    c.unpause()
    assert c.status == "running"
    assert [x.name for x in client.containers.list(filters={"label": "team=x"})] == ["api1"]
    assert client.containers.list(filters={"label": "team=y"}) == []
    c.rename("api2")
    assert client.containers.get("api2").id == c.id
    with pytest.raises(pyrt.NotFound):
        client.containers.get("api1")
    c.kill("SIGKILL")
    assert c.wait(timeout=30) == 137
    c.reload()
    assert c.attrs["State"]["ExitCode"] == 137 and c.attrs["Config"]["Labels"] == {"team": "x"}
    c.start()
    assert c.reload().status == "running"
    c.restart(timeout=0)
    assert c.reload().status == "running"
    with pytest.raises(pyrt.Conflict):
        c.remove()
    c.stop(timeout=0)
    with pytest.raises(pyrt.NotRunning):
        c.kill()
    with pytest.raises(pyrt.NotRunning):
        c.exec_run("true")
    assert client.containers.prune() == [c.id]
    with pytest.raises(pyrt.NotFound):
        c.reload()


def test_errors_are_the_documented_kinds(client):
    with pytest.raises(pyrt.NotFound):
        client.containers.get("nope")
    with pytest.raises(pyrt.NotFound):
        client.containers.create("nosuchimage", ["true"], pull="never")
    with pytest.raises(pyrt.InvalidArgument):
        client.containers.create("busybox", ["true"], name="bad/name")
    with pytest.raises(pyrt.InvalidArgument):
        client.containers.create("busybox", ["true"], mounts=[Mount(type="bind", source="/no/such", target="/x")])
    with pytest.raises(pyrt.InvalidArgument):
        client.containers.create("busybox", ["true"], security_opt=["label=x"])
    c = client.containers.create("busybox", ["true"], name="taken")
    with pytest.raises(pyrt.Conflict):
        client.containers.create("busybox", ["true"], name="taken")
    with pytest.raises(pyrt.Conflict):
        c.unpause()
    c.remove()


def test_images_and_volumes(client, eng):
    imgs = client.images.list()
    assert any("docker.io/library/busybox:latest" in i.tags for i in imgs)
    img = client.images.get("busybox")
    assert img.id.startswith("sha256:") and img.size > 0
    with pytest.raises(pyrt.NotFound):
        client.images.get("nosuch")
    v = client.volumes.create("data", labels={"a": "b"})
    assert isinstance(v, Volume) and v.labels == {"a": "b"} and os.path.isdir(v.mountpoint)
    assert client.volumes.get("data") == v and [x.name for x in client.volumes.list()] == ["data"]
    c = client.containers.run("busybox", ["sh", "-c", "echo kept > /d/f"], mounts=[Mount("volume", "/d", "data")],
                              detach=True)
    assert c.wait(timeout=30) == 0
    assert open(os.path.join(v.mountpoint, "f")).read() == "kept\n"
    with pytest.raises(pyrt.Conflict):
        client.volumes.remove("data")
    assert client.volumes.prune() == []
    c.remove()
    assert client.volumes.prune() == ["data"]
    with pytest.raises(pyrt.NotFound):
        client.volumes.get("data")
    assert client.images.remove("busybox") != []
