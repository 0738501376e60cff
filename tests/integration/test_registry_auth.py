"""Authentication end to end: htpasswd Basic and token (Bearer) registries, login/logout,
and credentials found in docker's config.json."""
import base64
import json
import os


from pyrt.image.pull import PullOptions, pull
from pyrt.image.reference import RegistriesConf
from pyrt.image.store import ImageStore
from tests.support.pyrtcli import pyrt, pyrt_env
from tests.support.registry import PASSWORD, USER

pytest_plugins = ["tests.support.registry_fixtures"]


def test_basic_auth_login_pull_logout(basic_registry, store_root):
    ref = f"{basic_registry.host}/pyrt/busybox:latest"
    r = pyrt(store_root, "pull", "--tls-verify=false", ref)
    assert r.returncode == 11
    assert r.stderr == f"pyrt: authentication required: run pyrt login {basic_registry.host}\n"

    r = pyrt(store_root, "login", "--tls-verify=false", "-u", USER, "-p", "wrong", basic_registry.host)
    assert r.returncode == 11 and "bad username or password" in r.stderr
    assert not os.path.exists(os.path.join(store_root, "auth.json"))

    r = pyrt(store_root, "login", "--tls-verify=false", "-u", USER, "--password-stdin", basic_registry.host,
             input=PASSWORD + "\n")
    assert r.returncode == 0 and "Login Succeeded" in r.stdout
    assert oct(os.stat(os.path.join(store_root, "auth.json")).st_mode & 0o777) == "0o600"

    r = pyrt(store_root, "pull", "--tls-verify=false", "-q", ref)
    assert r.returncode == 0, r.stderr
    assert ImageStore(store_root).resolve(ref).id == r.stdout.strip()

    assert pyrt(store_root, "logout", basic_registry.host).returncode == 0
    r = pyrt(store_root, "logout", basic_registry.host)
    assert r.returncode == 4 and "not logged in" in r.stderr
    assert pyrt(store_root, "rmi", ref).returncode == 0
    assert pyrt(store_root, "pull", "--tls-verify=false", ref).returncode == 11


def test_docker_config_json_is_used(basic_registry, store_root, tmp_path):
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    entry = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {basic_registry.host: {"auth": entry}}}))
    env = pyrt_env(str(tmp_path), HOME=str(home))
    r = pyrt(store_root, "pull", "--tls-verify=false", "-q", f"{basic_registry.host}/pyrt/busybox", env=env)
    assert r.returncode == 0, r.stderr


def test_token_anonymous_public_pull(token_registry, store_root):
    """The registry answers 401 Bearer; an anonymous token for pull is enough for a public repo."""
    before = token_registry.issuer.requests
    r = pyrt(store_root, "pull", "--tls-verify=false", "-q", f"{token_registry.host}/pyrt/public:latest")
    assert r.returncode == 0, r.stderr
    # One token for the repository's pull scope, reused for manifest, config and layers.
    assert token_registry.issuer.requests - before == 1
    assert token_registry.issuer.scopes[-1] == "repository:pyrt/public:pull"


def test_token_private_needs_login(token_registry, store_root):
    ref = f"{token_registry.host}/pyrt/busybox:latest"
    r = pyrt(store_root, "pull", "--tls-verify=false", ref)
    assert r.returncode == 11
    assert r.stderr.startswith(f"pyrt: authentication required: run pyrt login {token_registry.host}")
    r = pyrt(store_root, "login", "--tls-verify=false", "-u", USER, "-p", "nope", token_registry.host)
    assert r.returncode == 11 and "bad username or password" in r.stderr
    r = pyrt(store_root, "login", "--tls-verify=false", "-u", USER, "-p", PASSWORD, token_registry.host)
    assert r.returncode == 0, r.stderr
    r = pyrt(store_root, "pull", "--tls-verify=false", "-q", ref)
    assert r.returncode == 0, r.stderr


def test_token_cached_across_requests_in_process(token_registry, store_root):
    """In one process, a second pull of the same repository reuses the cached token."""
    from pyrt.image.pull import client_for
    store = ImageStore(store_root)
    opts = PullOptions(tls_verify=False, registries=RegistriesConf())
    client = client_for(token_registry.host, store_root, opts, RegistriesConf(), credentials=(USER, PASSWORD))
    before = token_registry.issuer.requests
    for _ in range(3):
        data, mt = client.get_manifest("pyrt/busybox", "latest")
        assert json.loads(data)["schemaVersion"] == 2
    assert token_registry.issuer.requests - before == 1
    assert pull(store, f"{token_registry.host}/pyrt/public", opts).id.startswith("sha256:")


def test_tls_registry(tls_registry, store_root):
    """https with a self-signed certificate: refused when verifying, used (still https) with
    --tls-verify=false; an https registry never falls back to plain http."""
    ref = f"{tls_registry.host}/pyrt/busybox:latest"
    r = pyrt(store_root, "pull", ref)
    assert r.returncode == 10 and "CERTIFICATE_VERIFY_FAILED" in r.stderr and "--tls-verify=false" in r.stderr
    r = pyrt(store_root, "pull", "--tls-verify=false", "-q", ref)
    assert r.returncode == 0, r.stderr
    # Verification on, with the registry's CA trusted through the usual OpenSSL variable.
    env = pyrt_env(os.path.dirname(store_root), SSL_CERT_FILE=tls_registry.cert_path)
    r = pyrt(store_root, "pull", "-q", ref, env=env)
    assert r.returncode == 0, r.stderr
    from pyrt.image.registry import RegistryClient
    client = RegistryClient(tls_registry.host, tls_verify=False)
    client.ping()
    assert client._scheme == "https"
