"""Credential helpers (docker's credsStore / credHelpers, containers' auth.json credHelpers),
run for real: each test writes a small `docker-credential-NAME` program into a temp dir put
first on PATH, and pulls from the real htpasswd or token registry. The helper logs what it was
asked (argv and stdin) so the test can check the protocol."""
from __future__ import annotations

import json
import os
import stat

from pyrt.image.store import ImageStore
from tests.support.pyrtcli import pyrt, pyrt_env
from tests.support.registry import IDENTITY_TOKEN, PASSWORD, USER

pytest_plugins = ["tests.support.registry_fixtures"]

# A helper whose `get` answer comes from the file $HELPER_DIR/answer.<name> (stdout text and an
# exit status on the first line), logging "argv|stdin" to $HELPER_DIR/log.<name>.
HELPER = """#!/bin/sh
dir="$(dirname "$0")"
name="$(basename "$0")"
server="$(cat)"
echo "$*|$server" >> "$dir/log.$name"
{ read -r status; cat; } < "$dir/answer.$name"
exit "$status"
"""


def _helper(tmp_path, name: str, status: int, out: str) -> tuple[dict, str]:
    """Install docker-credential-NAME answering OUT with exit STATUS; returns (env, log path)."""
    bindir = tmp_path / "helpers"
    bindir.mkdir(exist_ok=True)
    prog = bindir / f"docker-credential-{name}"
    prog.write_text(HELPER)
    prog.chmod(prog.stat().st_mode | stat.S_IXUSR)
    (bindir / f"answer.docker-credential-{name}").write_text(f"{status}\n{out}")
    env = pyrt_env(str(tmp_path), PATH=f"{bindir}:{os.environ['PATH']}")
    return env, str(bindir / f"log.docker-credential-{name}")


def _docker_config(tmp_path, doc: dict) -> None:
    d = tmp_path / ".docker"          # pyrt_env sets HOME to tmp_path
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps(doc))


def _creds(user=USER, secret=PASSWORD, server="") -> str:
    return json.dumps({"ServerURL": server, "Username": user, "Secret": secret})


def _pull(store_root, ref, env):
    return pyrt(store_root, "pull", "-q", "--tls-verify=false", ref, env=env)


def _one_line(r, code):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    return r.stderr.strip()


def test_cred_helpers_entry_for_the_registry(basic_registry, store_root, tmp_path):
    env, log = _helper(tmp_path, "pyrtvault", 0, _creds())
    _docker_config(tmp_path, {"credHelpers": {basic_registry.host: "pyrtvault"},
                              "auths": {basic_registry.host: {"auth": "d3Jvbmc6d3Jvbmc="}}})   # wrong:wrong
    r = _pull(store_root, f"{basic_registry.host}/pyrt/busybox", env)
    assert r.returncode == 0, r.stderr
    assert open(log).read() == f"get|{basic_registry.host}\n"      # the helper wins over auths
    assert ImageStore(store_root).resolve(f"{basic_registry.host}/pyrt/busybox")


def test_creds_store_for_every_registry(basic_registry, store_root, tmp_path):
    env, log = _helper(tmp_path, "pyrtstore", 0, _creds())
    _docker_config(tmp_path, {"credsStore": "pyrtstore", "auths": {basic_registry.host: {}}})
    r = _pull(store_root, f"{basic_registry.host}/pyrt/busybox", env)
    assert r.returncode == 0, r.stderr
    assert open(log).read() == f"get|{basic_registry.host}\n"


def test_containers_auth_json_cred_helpers(basic_registry, store_root, tmp_path):
    env, log = _helper(tmp_path, "pyrtauthjson", 0, _creds())
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {}, "credHelpers": {basic_registry.host: "pyrtauthjson"}}))
    r = pyrt(store_root, "pull", "-q", "--tls-verify=false", "--authfile", str(authfile),
             f"{basic_registry.host}/pyrt/busybox", env=env)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(log)


def test_not_found_means_anonymous(token_registry, basic_registry, store_root, tmp_path):
    """docker-credential-helpers' own answer for an unknown server: exit 1, "credentials not
    found in native keychain". The pull goes on anonymously: a public repository works, a
    private one gets the usual authentication error."""
    env, log = _helper(tmp_path, "pyrtempty", 1, "credentials not found in native keychain\n")
    _docker_config(tmp_path, {"credsStore": "pyrtempty"})
    r = _pull(store_root, f"{token_registry.host}/pyrt/public", env)
    assert r.returncode == 0, r.stderr
    line = _one_line(_pull(store_root, f"{basic_registry.host}/pyrt/busybox", env), 11)
    assert "authentication required" in line, line
    assert len(open(log).read().splitlines()) == 2


def test_missing_helper(basic_registry, store_root, tmp_path):
    env = pyrt_env(str(tmp_path))
    _docker_config(tmp_path, {"credHelpers": {basic_registry.host: "pyrt-no-such-helper"}})
    line = _one_line(_pull(store_root, f"{basic_registry.host}/pyrt/busybox", env), 11)
    assert "docker-credential-pyrt-no-such-helper not found in PATH" in line, line
    assert ".docker/config.json" in line
    assert ImageStore(store_root).records() == []


def test_failing_helper(basic_registry, store_root, tmp_path):
    env, _ = _helper(tmp_path, "pyrtlocked", 3, "error: the keychain is locked\n")
    _docker_config(tmp_path, {"credHelpers": {basic_registry.host: "pyrtlocked"}})
    line = _one_line(_pull(store_root, f"{basic_registry.host}/pyrt/busybox", env), 11)
    assert "docker-credential-pyrtlocked failed" in line and "the keychain is locked" in line, line


def test_helper_answering_garbage(basic_registry, store_root, tmp_path):
    env, _ = _helper(tmp_path, "pyrtgarbage", 0, "not json")
    _docker_config(tmp_path, {"credsStore": "pyrtgarbage"})
    line = _one_line(_pull(store_root, f"{basic_registry.host}/pyrt/busybox", env), 11)
    assert "gave no Username/Secret" in line, line


def test_identity_token(token_registry, store_root, tmp_path):
    """Username "<token>": Secret is an identity token, traded at the token server as an OAuth2
    refresh token (POST, grant_type=refresh_token) for access to the private repository."""
    env, _ = _helper(tmp_path, "pyrtidtoken", 0, _creds("<token>", IDENTITY_TOKEN))
    _docker_config(tmp_path, {"credHelpers": {token_registry.host: "pyrtidtoken"}})
    issuer = token_registry.issuer
    before = len(issuer.posts)
    r = _pull(store_root, f"{token_registry.host}/pyrt/busybox", env)
    assert r.returncode == 0, r.stderr
    posts = issuer.posts[before:]
    assert posts and posts[0]["grant_type"] == ["refresh_token"] and posts[0]["refresh_token"] == [IDENTITY_TOKEN]
    assert posts[0]["scope"] == ["repository:pyrt/busybox:pull"]


def test_identity_token_refused(token_registry, store_root, tmp_path):
    env, _ = _helper(tmp_path, "pyrtbadtoken", 0, _creds("<token>", "not-the-token"))
    _docker_config(tmp_path, {"credHelpers": {token_registry.host: "pyrtbadtoken"}})
    line = _one_line(_pull(store_root, f"{token_registry.host}/pyrt/busybox", env), 11)
    assert "refused: bad identity token" in line, line


def test_identitytoken_entry_in_config_json(token_registry, store_root, tmp_path):
    """What `docker login` writes without a helper for a token-based registry."""
    env = pyrt_env(str(tmp_path))
    _docker_config(tmp_path, {"auths": {token_registry.host: {"identitytoken": IDENTITY_TOKEN}}})
    r = _pull(store_root, f"{token_registry.host}/pyrt/busybox", env)
    assert r.returncode == 0, r.stderr
