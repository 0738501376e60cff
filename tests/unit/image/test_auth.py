"""Credentials: pyrt's own file, containers' auth.json and docker's config.json, in that order."""
import base64
import json
import os
import stat

import pytest

from pyrt.errors import AuthError
from pyrt.image import auth


def _authfile(path, entries):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": {k: {"auth": base64.b64encode(v.encode()).decode()} for k, v in entries.items()}}))


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    for var in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return h


def test_docker_config(home):
    _authfile(home / ".docker" / "config.json", {"https://index.docker.io/v1/": "hub:pw", "quay.io": "q:pw2"})
    assert auth.find_credentials("registry-1.docker.io") == ("hub", "pw")
    assert auth.find_credentials("quay.io") == ("q", "pw2")
    assert auth.find_credentials("ghcr.io") is None


def test_order(home, tmp_path, monkeypatch):
    root = tmp_path / "root"
    _authfile(home / ".docker" / "config.json", {"r.example": "docker:1"})
    _authfile(home / ".config" / "containers" / "auth.json", {"r.example": "containers:2"})
    assert auth.find_credentials("r.example", str(root)) == ("containers", "2")
    auth.save_credentials(str(root / "auth.json"), "r.example", "pyrt", "3")
    assert auth.find_credentials("r.example", str(root)) == ("pyrt", "3")
    explicit = tmp_path / "explicit.json"
    _authfile(explicit, {"r.example": "explicit:4"})
    assert auth.find_credentials("r.example", str(root), str(explicit)) == ("explicit", "4")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(explicit))
    assert auth.find_credentials("r.example", str(root)) == ("explicit", "4")


def test_save_is_private_and_remove(home, tmp_path):
    path = tmp_path / "a" / "auth.json"
    auth.save_credentials(str(path), "h:5000", "u", "p:with:colons")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert auth.find_credentials("h:5000", authfile=str(path)) == ("u", "p:with:colons")
    assert auth.remove_credentials(str(path), "h:5000")
    assert not auth.remove_credentials(str(path), "h:5000")
    assert auth.find_credentials("h:5000", authfile=str(path)) is None


def test_malformed_file(home):
    p = home / ".docker" / "config.json"
    p.parent.mkdir()
    p.write_text("{not json")
    with pytest.raises(AuthError, match="cannot read credentials file"):
        auth.find_credentials("x")


def _helper_prog(tmp_path, monkeypatch, name, script):
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    prog = bindir / f"docker-credential-{name}"
    prog.write_text("#!/bin/sh\n" + script)
    prog.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")


def test_creds_store_asks_about_docker_hub_by_its_v1_url(home, tmp_path, monkeypatch):
    """docker's helpers know the Hub as https://index.docker.io/v1/, whatever alias we pull from."""
    _helper_prog(tmp_path, monkeypatch, "echoer",
                 'printf \'{"ServerURL":"","Username":"%s","Secret":"pw"}\' "$(cat)"\n')
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps({"credsStore": "echoer"}))
    assert auth.find_credentials("registry-1.docker.io") == ("https://index.docker.io/v1/", "pw")
    assert auth.find_credentials("quay.io:5000") == ("quay.io:5000", "pw")


def test_helper_name_cannot_be_a_path(home):
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps({"credHelpers": {"quay.io": "../../bin/sh"}}))
    with pytest.raises(AuthError, match="invalid credential helper name"):
        auth.find_credentials("quay.io")


def test_empty_answer_is_no_credentials(home, tmp_path, monkeypatch):
    _helper_prog(tmp_path, monkeypatch, "blank", 'echo \'{"ServerURL":"","Username":"","Secret":""}\'\n')
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps({"credsStore": "blank"}))
    assert auth.find_credentials("quay.io") is None
