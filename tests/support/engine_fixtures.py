"""pytest fixtures of the engine's tests (`pytest_plugins = ["tests.support.engine_fixtures"]`):
the busybox image tarball, built once per session for every module that runs the engine, and
`eng`, an engine of the test's own that must be left with nothing behind."""
from __future__ import annotations

import pytest

from tests.support.engine import EngineEnv, build_busybox_tar, engine_env


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory):
    return build_busybox_tar(str(tmp_path_factory.mktemp("engine-image")))


@pytest.fixture
def eng(tmp_path, cgroup_parent, busybox_tar):
    yield from engine_env(EngineEnv, str(tmp_path / "e"), cgroup_parent, busybox_tar)
