"""End-to-end tests of Kubernetes support: the real `cloudfleet-server` over HTTPS, the real `cloudfleet` CLI, the
real `kubectl`, and outside libraries (the official `kubernetes` client's models, PyJWT, cryptography, cel-python).

Every test runs against one HTTPS server of this module (a throwaway CA made here; `--tls-cert/--tls-key/--tls-ca`;
the CLI trusts the CA through `CLOUDFLEET_CA_FILE`) and, where kubectl is involved, a fake kube-apiserver
(`fake_apiserver.py`) that authenticates exactly from the files `cloudfleet clusters auth-config` printed: the
TokenReview webhook from `webhook.kubeconfig`, or JWT verification from `kube-apiserver-oidc.flags` or
`authentication-config.yaml`. So `kubectl auth whoami` shows what a real cluster would make of a Cloudfleet token.

1. kubectl + webhook mode: two profiles (Administrator, User) in one kubeconfig, `kubectl auth whoami` for each;
   the recorded bearer token sent to the webhook directly gives the same user.
2. kubectl + OIDC mode: the `--oidc-*` flags and the AuthenticationConfiguration, each verified from discovery + JWKS.
3. Revocation: deleted and regenerated tokens are refused at once through kubectl; other clusters' tokens, access
   tokens and garbage are refused; the webhook credential is required and replaced by a new `auth-config`.
4. TokenReview v1 and v1beta1 built and parsed with the official client's models.
5. PyJWT with nothing but discovery and JWKS; signing-key rotation keeps old and new tokens valid.
6. The exec plugin's cache: no network (`unshare -n`, stopped server), a changed secret misses, errors are one line.
7. Kubeconfig merging never clobbers what is there; `$KUBECONFIG`; mode 0600; invalid files stay unchanged.
8. Every auth-config output parses and says what Kubernetes needs; a User token cannot issue a webhook credential.
9. No webhook credential, secret or JWT in the server's logs.

Run: `python3 -m pytest Tests/e2e/test_kubernetes_e2e.py -q` (binaries from $CLOUDFLEET_SERVER_BIN and
$CLOUDFLEET_CLI_BIN, else built).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
import requests
import yaml
from kubernetes import client as k8s

import kube_models
import openapi_contract
from conftest import BASE62, Seen, ServerProcess, ServerTLS, base62, built_binary, clean_env, free_port
from fake_apiserver import (AuthenticationConfigAuthenticator, FakeAPIServer, JWTVerifier, OIDCFlags, OIDCFlagsAuthenticator,
                            Refused, WebhookAuthenticator)
from pki import CA

KUBECTL = shutil.which("kubectl")

V1 = "authentication.k8s.io/v1"
V1BETA1 = "authentication.k8s.io/v1beta1"
ADMIN_GROUP, USER_GROUP = "cloudfleet:administrators", "cloudfleet:users"
ORG_KEY, NAME_KEY = "cloudfleet.io/organization", "cloudfleet.io/token-name"
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
CREDENTIAL_RE = re.compile(r"cfwh_[0-9A-Za-z]{8,}")
SECRET_RE = re.compile(r"cfs_[0-9A-Za-z]{8,}")
B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
CRASH = re.compile(r"Fatal error|Stack dump|Backtrace|Program crashed|\.swift:\d+")
FLAG_DIR = "/etc/kubernetes/cloudfleet"  # where the printed flags say the files go

# Everything secret this module saw (secrets, webhook credentials, cluster and access tokens): never in the logs.
SECRETS: set[str] = set()


def remember(value: str) -> str:
    SECRETS.add(value)
    if value.startswith("cfs_"):
        Seen.secret(value)
    return value


# =================================================================================================================
# The module's server (HTTPS) and the CAs
# =================================================================================================================


@dataclass(frozen=True)
class PKI:
    issuer_ca: Path  # the Cloudfleet server's CA (--tls-ca; CLOUDFLEET_CA_FILE)
    issuer_ca_pem: str
    tls: ServerTLS
    cluster_ca: Path  # the fake kube-apiservers' CA (the clusters' ca_bundle)
    cluster_ca_pem: str
    apiserver_cert: Path
    apiserver_key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    root = tmp_path_factory.mktemp("k8s-pki")
    issuer = CA("cloudfleet e2e issuer CA")
    cert, key = issuer.issue_server().write(root, "cloudfleet-server")
    cluster = CA("fake kube-apiserver CA")
    apiserver_cert, apiserver_key = cluster.issue_server().write(root, "kube-apiserver")
    return PKI(issuer.write(root / "issuer-ca.crt"), issuer.pem, ServerTLS(cert, key, root / "issuer-ca.crt"),
               cluster.write(root / "cluster-ca.crt"), cluster.pem, apiserver_cert, apiserver_key)


@pytest.fixture(scope="module")
def server(server_binary: Path, pki: PKI, tmp_path_factory: pytest.TempPathFactory):
    """This module's own server, over HTTPS, logging at debug level (so that a leak would show)."""
    process = ServerProcess(server_binary, tmp_path_factory.mktemp("k8s-server"), log_level="debug", tls=pki.tls)
    assert process.start() is not None, "no bootstrap banner"
    try:
        yield process
    finally:
        if process.running:
            process.stop()
        process.kill()


@pytest.fixture(scope="session")
def cli_binary() -> Path:
    return built_binary("CLOUDFLEET_CLI_BIN", "cloudfleet")


@dataclass(frozen=True)
class Token:
    id: str
    secret: str
    role: str
    name: str

    @property
    def username(self) -> str:
        return "service-account-" + self.id.lower()

    @property
    def group(self) -> str:
        return ADMIN_GROUP if self.role == "Administrator" else USER_GROUP


@pytest.fixture(scope="module")
def bootstrap(server: ServerProcess) -> Token:
    return Token(server.bootstrap.token_id, server.bootstrap.secret, "Administrator", "bootstrap")


@pytest.fixture(scope="module")
def org_id(server: ServerProcess) -> str:
    return server.bootstrap.organization_id


# =================================================================================================================
# The API, directly
# =================================================================================================================


def http(method: str, url: str, **kwargs) -> requests.Response:
    kwargs.setdefault("timeout", 15)
    return requests.request(method, url, **kwargs)


def api(server: ServerProcess, method: str, path: str, token: Token | None = None, *, bearer: str | None = None,
        **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    auth = (token.id, token.secret) if token else None
    response = http(method, server.url + path, auth=auth, headers=headers, verify=server.verify, **kwargs)
    assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text[:300]}"
    openapi_contract.check(method, path.split("?", 1)[0], response)
    if "json" in response.headers.get("Content-Type", "") and isinstance(body := response.json(), dict):
        for key in ("secret", "credential", "token", "access_token"):
            if isinstance(body.get(key), str):
                remember(body[key])
    return response


def new_token(server: ServerProcess, actor: Token, role: str) -> Token:
    name = f"k8s e2e {role.lower()} {uuid.uuid4().hex[:6]}"
    response = api(server, "POST", "/v1/tokens", actor, json={"name": name, "role": role})
    assert response.status_code == 201, response.text
    return Token(response.json()["id"], response.json()["secret"], role, name)


def new_cluster(server: ServerProcess, actor: Token, endpoint: str = "https://203.0.113.10:6443", ca_pem: str | None = None) -> dict:
    body = {"name": unique_name(), "api_endpoint": endpoint}
    if ca_pem:
        body["ca_bundle"] = ca_pem
    response = api(server, "POST", "/v1/clusters", actor, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def cluster_token(server: ServerProcess, actor: Token, cluster_id: str) -> str:
    response = api(server, "POST", f"/v1/clusters/{cluster_id}/token", actor)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def webhook_credential(server: ServerProcess, actor: Token, cluster_id: str) -> str:
    response = api(server, "POST", f"/v1/clusters/{cluster_id}/webhook-credential", actor)
    assert response.status_code == 200, response.text
    return response.json()["credential"]


def review(server: ServerProcess, cluster: dict, credential: str | None, token: str, api_version: str = V1) -> requests.Response:
    """POSTs a TokenReview (built with the client's models) to the cluster's webhook URL, as a kube-apiserver does."""
    headers = {"Authorization": f"Bearer {credential}"} if credential is not None else {}
    body = kube_models.token_review(token, api_version=api_version, audiences=["https://kubernetes.default.svc.cluster.local"])
    response = http("POST", cluster["token_review_url"], json=body, headers=headers, verify=server.verify)
    assert response.status_code < 500, f"tokenreview: {response.status_code} {response.text[:300]}"
    openapi_contract.check("POST", urlsplit(cluster["token_review_url"]).path, response)
    return response


def reviewed_user(response: requests.Response, api_version: str = V1) -> k8s.V1UserInfo | None:
    """The user of a webhook answer (None when not authenticated), checked to be a TokenReview of `api_version`."""
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    body = response.json()
    assert (body.get("apiVersion"), body.get("kind")) == (api_version, "TokenReview"), body
    parsed = kube_models.parse_token_review(body)
    assert parsed.status is not None, body
    if not parsed.status.authenticated:
        assert parsed.status.user is None or not parsed.status.user.username, f"a refusal names a user: {body}"
        assert not parsed.status.audiences, body
        return None
    assert not parsed.status.audiences, f"status.audiences must stay empty (the API server intersects them): {body}"
    return parsed.status.user


def unique_name() -> str:
    return f"k8s-{uuid.uuid4().hex[:10]}"


def well_formed_credential() -> str:
    """A webhook credential with a valid format and checksum that belongs to no cluster."""
    body = "cfwh_" + "".join(BASE62[b % 62] for b in os.urandom(40))
    return body + base62(zlib.crc32(body.encode()), 6)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# =================================================================================================================
# A user's machine: the CLI and kubectl with one HOME and one Cloudfleet configuration directory
# =================================================================================================================


@dataclass
class Run:
    command: str
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AssertionError(f"printed no JSON:\n{self}") from None

    def __str__(self) -> str:
        return f"$ {self.command} {' '.join(self.args)}\nexit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


class Machine:
    def __init__(self, cli_binary: Path, root: Path, server: ServerProcess):
        self.cli_binary = cli_binary
        self.server = server
        self.root = root
        self.home = root / "home"
        self.home.mkdir(parents=True)
        self.config_dir = root / "cloudfleet"

    @property
    def cache_dir(self) -> Path:
        return self.config_dir / "cache"

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = clean_env(HOME=str(self.home), CLOUDFLEET_CONFIG_DIR=str(self.config_dir), CLOUDFLEET_CA_FILE=str(self.server.tls.ca))
        env.pop("KUBECONFIG", None)
        env.update(extra or {})
        return env

    def _run(self, argv: list[str], shown: str, args: tuple[str, ...], expect: int | None, env: dict[str, str] | None,
             timeout: float) -> Run:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.environment(env), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{shown} {' '.join(args)} did not finish within {timeout:g} s") from None
        run = Run(shown, args, done.returncode, done.stdout, done.stderr)
        for pattern in (SECRET_RE, CREDENTIAL_RE, JWT_RE):
            for value in pattern.findall(run.stdout):
                remember(value)
        assert run.returncode >= 0, f"killed by signal {-run.returncode}:\n{run}"
        assert not CRASH.search(run.stderr), f"a crash on stderr:\n{run}"
        if expect is not None:
            assert run.returncode == expect, f"expected exit {expect}:\n{run}"
        return run

    def cloudfleet(self, *args: str, expect: int | None = 0, env: dict[str, str] | None = None, prefix: tuple[str, ...] = (),
                   timeout: float = 30) -> Run:
        return self._run([*prefix, str(self.cli_binary), *args], "cloudfleet", args, expect, env, timeout)

    def kubectl(self, *args: str, expect: int | None = 0, env: dict[str, str] | None = None, timeout: float = 30) -> Run:
        if KUBECTL is None:
            pytest.skip("kubectl is not on PATH")
        return self._run([KUBECTL, *args], "kubectl", args, expect, env, timeout)

    def add_profile(self, name: str, token: Token, api_url: str | None = None) -> Run:
        return self.cloudfleet("auth", "add-profile", "token", name, self.server.bootstrap.organization_id, token.id, token.secret,
                               "--api-url", api_url or self.server.url)

    def create_cluster(self, endpoint: str, ca_file: Path | None, profile: str) -> dict:
        args = ["clusters", "create", "--name", unique_name(), "--api-endpoint", endpoint, "--profile", profile, "-o", "json"]
        if ca_file:
            args += ["--ca-file", str(ca_file)]
        return self.cloudfleet(*args).json()

    def auth_config(self, cluster_id: str, mode_: str, out: Path, *extra: str, profile: str) -> Path:
        self.cloudfleet("clusters", "auth-config", cluster_id, "--mode", mode_, "--output-dir", str(out), "--profile", profile, *extra)
        if (out / "webhook.kubeconfig").exists():
            remember(yaml.safe_load((out / "webhook.kubeconfig").read_text())["users"][0]["user"]["token"])
        return out

    def kubeconfig(self, cluster_id: str, profile: str, path: Path, *extra: str) -> Run:
        return self.cloudfleet("clusters", "kubeconfig", cluster_id, "--profile", profile, "--kubeconfig", str(path), *extra)

    def config_view(self, path: Path | None = None, env: dict[str, str] | None = None) -> dict:
        args = ["config", "view", "--raw", "-o", "json"] + (["--kubeconfig", str(path)] if path else [])
        return self.kubectl(*args, env=env).json()

    def whoami(self, kubeconfig: Path, context: str, expect: int | None = 0) -> Run:
        return self.kubectl("--kubeconfig", str(kubeconfig), "--context", context, "auth", "whoami", "-o", "json", expect=expect)


@pytest.fixture
def machine(cli_binary: Path, server: ServerProcess, tmp_path: Path) -> Machine:
    return Machine(cli_binary, tmp_path / "machine", server)


@pytest.fixture
def fake(pki: PKI):
    """A fake kube-apiserver with the cluster CA's certificate; stopped after the test."""
    apiserver = FakeAPIServer(pki.apiserver_cert, pki.apiserver_key)
    try:
        yield apiserver
    finally:
        apiserver.close()


def by_name(entries: list[dict]) -> dict[str, dict]:
    return {entry["name"]: entry for entry in entries or []}


def whoami(machine: Machine, fake: FakeAPIServer, kubeconfig: Path, context: str) -> dict:
    """`kubectl auth whoami` through the fake API server, which must accept the token: the user info."""
    run = machine.whoami(kubeconfig, context, expect=None)
    assert run.returncode == 0, f"{run}\nthe fake API server saw: {[(r.method, r.path, r.refusal) for r in fake.requests]}"
    return user_info(run)


def user_info(run: Run) -> dict:
    review_ = run.json()
    assert (review_.get("apiVersion"), review_.get("kind")) == (V1, "SelfSubjectReview"), run
    return review_["status"]["userInfo"]


def assert_unauthorized(run: Run) -> None:
    assert run.returncode != 0 and "Unauthorized" in run.stderr, f"expected kubectl to be refused (Unauthorized):\n{run}"


def assert_one_line_error(run: Run) -> None:
    assert run.returncode != 0, run
    assert run.stdout == "", f"nothing on stdout on error:\n{run}"
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"one 'error:' line on stderr:\n{run}"
    assert not SECRET_RE.search(run.stderr) and not CREDENTIAL_RE.search(run.stderr) and not JWT_RE.search(run.stderr), run


@dataclass
class Setup:
    """A cluster registered for the fake kube-apiserver, an operator profile `ops` and the cluster's auth files."""

    cluster: dict
    ops: Token
    files: Path


def register(server: ServerProcess, machine: Machine, fake: FakeAPIServer, pki: PKI, bootstrap: Token, mode_: str,
             tmp_path: Path, *extra: str) -> Setup:
    ops = new_token(server, bootstrap, "Administrator")
    machine.add_profile("ops", ops)
    cluster = machine.create_cluster(fake.url, pki.cluster_ca, "ops")
    assert cluster["api_endpoint"] == fake.url and cluster["ca_bundle"] == pki.cluster_ca_pem, cluster
    files = machine.auth_config(cluster["id"], mode_, tmp_path / f"auth-{mode_}", *extra, profile="ops")
    return Setup(cluster, ops, files)


def add_context(machine: Machine, cluster_id: str, profile: str, kubeconfig: Path) -> str:
    """Runs `clusters kubeconfig` and answers the context it made current."""
    machine.kubeconfig(cluster_id, profile, kubeconfig)
    return machine.config_view(kubeconfig)["current-context"]


# =================================================================================================================
# 1. kubectl end to end, webhook mode
# =================================================================================================================


def test_kubectl_whoami_through_the_webhook(server, machine, fake, pki, bootstrap, org_id, tmp_path):
    setup = register(server, machine, fake, pki, bootstrap, "webhook", tmp_path)
    fake.authenticator = WebhookAuthenticator(setup.files / "webhook.kubeconfig")
    admin, user = new_token(server, bootstrap, "Administrator"), new_token(server, bootstrap, "User")
    machine.add_profile("admin", admin)
    machine.add_profile("viewer", user)
    kubeconfig = tmp_path / "kube" / "config"

    admin_context = add_context(machine, setup.cluster["id"], "admin", kubeconfig)
    first = machine.config_view(kubeconfig)
    viewer_context = add_context(machine, setup.cluster["id"], "viewer", kubeconfig)
    merged = machine.config_view(kubeconfig)
    assert admin_context != viewer_context and merged["current-context"] == viewer_context
    assert mode(kubeconfig) == 0o600, oct(mode(kubeconfig))
    # The second profile's entries were added next to the first's, which are exactly as they were.
    for kind in ("clusters", "users", "contexts"):
        before, after = by_name(first[kind]), by_name(merged[kind])
        assert all(after.get(name) == entry for name, entry in before.items()), f"{kind} of the first profile changed"
    assert len(merged["contexts"]) == 2 and len(merged["users"]) == 2 and len(merged["clusters"]) == 1, merged
    cluster_entry = merged["clusters"][0]["cluster"]
    assert cluster_entry["server"] == fake.url
    assert base64.b64decode(cluster_entry["certificate-authority-data"]).decode() == pki.cluster_ca_pem
    for context_name, profile in ((admin_context, "admin"), (viewer_context, "viewer")):
        context = by_name(merged["contexts"])[context_name]["context"]
        exec_ = by_name(merged["users"])[context["user"]]["user"]["exec"]
        assert exec_["apiVersion"] == "client.authentication.k8s.io/v1" and exec_["interactiveMode"] == "Never", exec_
        assert exec_["args"][:3] == ["clusters", "exec-credential", setup.cluster["id"]], exec_
        assert exec_["args"][exec_["args"].index("--profile") + 1] == profile, exec_
        assert os.path.isabs(exec_["command"]) or exec_["command"] == "cloudfleet", exec_

    for context, token in ((admin_context, admin), (viewer_context, user)):
        fake.reset()
        info = whoami(machine, fake, kubeconfig, context)
        assert info["username"] == token.username, info
        assert info["uid"] == token.id, info
        assert info["groups"] == [token.group, "system:authenticated"], info
        assert info.get("extra") == {ORG_KEY: [org_id], NAME_KEY: [token.name]}, info
        # kubectl presented the exec plugin's cluster token, and it is what the webhook reviewed.
        bearer = set(fake.tokens())
        assert len(bearer) == 1, f"kubectl sent {len(bearer)} different tokens"
        (recorded,) = bearer
        remember(recorded)
        assert [r.token for r in fake.requests if r.user] == [recorded]
        claims = claims_of(recorded)
        assert (claims["sub"], claims["cluster"], claims["token_use"]) == (token.id, setup.cluster["id"], "kube"), claims
        assert fake.authenticator.exchanges[-1][0]["spec"]["token"] == recorded
        # Sent to the webhook directly, the same token gives the same user.
        credential = fake.authenticator.credential
        direct = reviewed_user(review(server, setup.cluster, credential, recorded))
        assert direct is not None, "the webhook refused the token kubectl used"
        assert (direct.username, direct.uid, direct.groups) == (info["username"], info["uid"], [token.group]), direct
        assert direct.extra == info["extra"], direct


# =================================================================================================================
# 2. kubectl end to end, OIDC mode (the --oidc-* flags, and the AuthenticationConfiguration)
# =================================================================================================================


@pytest.mark.parametrize("configured_by", ["oidc-flags", "authentication-config"])
def test_kubectl_whoami_through_oidc(configured_by, server, machine, fake, pki, bootstrap, org_id, tmp_path):
    setup = register(server, machine, fake, pki, bootstrap, "oidc", tmp_path)
    cluster = setup.cluster
    if configured_by == "oidc-flags":
        flags = OIDCFlags.parse((setup.files / "kube-apiserver-oidc.flags").read_text())
        assert (flags.issuer_url, flags.client_id) == (cluster["issuer"], cluster["audience"])
        assert flags.username_claim == "k8s_username" and flags.username_prefix == "-" and flags.groups_claim == "k8s_groups"
        assert flags.required_claims == {"token_use": "kube", "cluster": cluster["id"]}
        assert flags.signing_algs == ["RS256", "ES256"]
        assert flags.ca_file == f"{FLAG_DIR}/issuer-ca.crt", flags.ca_file
        local_ca = setup.files / "issuer-ca.crt"
        assert local_ca.read_text() == pki.issuer_ca_pem
        fake.authenticator = OIDCFlagsAuthenticator(flags, ca_file=local_ca)
    else:
        config = yaml.safe_load((setup.files / "authentication-config.yaml").read_text())
        fake.authenticator = AuthenticationConfigAuthenticator(config)
    admin, user = new_token(server, bootstrap, "Administrator"), new_token(server, bootstrap, "User")
    machine.add_profile("admin", admin)
    machine.add_profile("viewer", user)
    kubeconfig = tmp_path / "kubeconfig"
    contexts = {"admin": add_context(machine, cluster["id"], "admin", kubeconfig),
                "viewer": add_context(machine, cluster["id"], "viewer", kubeconfig)}

    for profile, token in (("admin", admin), ("viewer", user)):
        fake.reset()
        info = whoami(machine, fake, kubeconfig, contexts[profile])
        assert info["username"] == token.username, info
        assert info["groups"] == [token.group, "system:authenticated"], info
        if configured_by == "oidc-flags":
            assert not info.get("uid") and not info.get("extra"), f"the --oidc-* flags map no uid or extra: {info}"
        else:  # the AuthenticationConfiguration gives exactly what the webhook gives
            assert info["uid"] == token.id, info
            assert info["extra"] == {ORG_KEY: [org_id], NAME_KEY: [token.name]}, info
        (recorded,) = set(fake.tokens())
        remember(recorded)

    # The same verifier refuses what is not this cluster's token.
    other = new_cluster(server, setup.ops)
    refused = {
        "another cluster's token": cluster_token(server, admin, other["id"]),
        "a tampered signature": recorded[:-4] + ("AAAA" if not recorded.endswith("AAAA") else "BBBB"),
        "garbage": "not-a-jwt",
    }
    for what, token_ in refused.items():
        with pytest.raises(Refused):
            fake.authenticator.authenticate(token_)
            pytest.fail(f"{what} was accepted")


# =================================================================================================================
# 3. Revocation and what the webhook refuses
# =================================================================================================================


def test_deleted_or_regenerated_token_is_refused_at_once(server, machine, fake, pki, bootstrap, tmp_path):
    setup = register(server, machine, fake, pki, bootstrap, "webhook", tmp_path)
    fake.authenticator = WebhookAuthenticator(setup.files / "webhook.kubeconfig")
    doomed, rotated = new_token(server, bootstrap, "User"), new_token(server, bootstrap, "Administrator")
    machine.add_profile("doomed", doomed)
    machine.add_profile("rotated", rotated)
    kubeconfig = tmp_path / "kubeconfig"
    doomed_context = add_context(machine, setup.cluster["id"], "doomed", kubeconfig)
    rotated_context = add_context(machine, setup.cluster["id"], "rotated", kubeconfig)
    credential = fake.authenticator.credential

    # Deleted: the cluster token the plugin cached (still unexpired) is refused on the next review.
    assert whoami(machine, fake, kubeconfig, doomed_context)["username"] == doomed.username
    (cached,) = set(fake.tokens())
    machine.cloudfleet("tokens", "delete", doomed.id, "--yes", "--profile", "ops")
    fake.reset()
    assert_unauthorized(machine.whoami(kubeconfig, doomed_context, expect=None))
    assert fake.tokens() and set(fake.tokens()) == {cached}, "kubectl did not present the cached cluster token"
    assert "not authenticated" in fake.requests[0].refusal, fake.requests[0].refusal
    assert reviewed_user(review(server, setup.cluster, credential, cached)) is None

    # Regenerated: the profile still has the old secret, so the plugin answers the old cluster token: refused.
    fake.reset()
    assert whoami(machine, fake, kubeconfig, rotated_context)["username"] == rotated.username
    (old,) = set(fake.tokens())
    regenerated = machine.cloudfleet("tokens", "regenerate", rotated.id, "--profile", "ops", "-o", "json").json()
    fresh = Token(rotated.id, remember(regenerated["secret"]), rotated.role, rotated.name)
    fake.reset()
    assert_unauthorized(machine.whoami(kubeconfig, rotated_context, expect=None))
    assert set(fake.tokens()) == {old}
    # With the new secret in the profile, the plugin exchanges again: a new token of the new generation, accepted.
    machine.add_profile("rotated", fresh)
    fake.reset()
    info = whoami(machine, fake, kubeconfig, rotated_context)
    assert info["username"] == rotated.username and info["groups"] == [ADMIN_GROUP, "system:authenticated"], info
    (new,) = set(fake.tokens())
    assert new != old and claims_of(new)["gen"] == claims_of(old)["gen"] + 1
    assert reviewed_user(review(server, setup.cluster, credential, old)) is None
    assert reviewed_user(review(server, setup.cluster, credential, new)).username == rotated.username

    # A role change shows in the very next review, although the token's claims still say Administrator.
    api(server, "PATCH", f"/v1/tokens/{rotated.id}", bootstrap, json={"role": "User"})
    fake.reset()
    assert whoami(machine, fake, kubeconfig, rotated_context)["groups"] == [USER_GROUP, "system:authenticated"]
    assert set(fake.tokens()) == {new} and claims_of(new)["k8s_groups"] == [ADMIN_GROUP]


def test_webhook_refuses_everything_but_its_own_clusters_tokens(server, machine, bootstrap, tmp_path):
    ops = new_token(server, bootstrap, "Administrator")
    machine.add_profile("ops", ops)
    a, b = new_cluster(server, ops), new_cluster(server, ops)
    credential_a, credential_b = webhook_credential(server, ops, a["id"]), webhook_credential(server, ops, b["id"])
    token_a, token_b = cluster_token(server, ops, a["id"]), cluster_token(server, ops, b["id"])
    assert reviewed_user(review(server, a, credential_a, token_a)).username == ops.username  # the control
    assert reviewed_user(review(server, b, credential_b, token_b)).username == ops.username

    grant = api(server, "POST", "/v1/auth/token", ops, data={"grant_type": "client_credentials"})
    assert grant.status_code == 200, grant.text
    header, payload, signature = token_a.split(".")
    swapped = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    swapped.update(aud=b["audience"], cluster=b["id"])
    forged_payload = base64.urlsafe_b64encode(json.dumps(swapped).encode()).rstrip(b"=").decode()
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    refused = {
        "cluster B's token at A": token_b,
        "an API access token": grant.json()["access_token"],
        "garbage": "garbage",
        "an empty token": "",
        "a JWT-looking token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        "the API token's secret": ops.secret,
        "the API token as ID:secret": f"{ops.id}:{ops.secret}",
        "the webhook credential itself": credential_a,
        "A's token with its signature changed": f"{header}.{payload}.{signature[:-6]}{'A' * 6 if not signature.endswith('AAAAAA') else 'B' * 6}",
        "A's token with B's audience": f"{header}.{forged_payload}.{signature}",
        "A's claims unsigned (alg none)": f"{unsigned}.{payload}.",
    }
    for what, token in refused.items():
        for version in (V1, V1BETA1):
            assert reviewed_user(review(server, a, credential_a, token, version), version) is None, f"{what} was accepted ({version})"

    # The webhook is only for the cluster's API server: its credential, and no other, or 401.
    for what, credential in {"no credential": None, "a well-formed unknown credential": well_formed_credential(),
                             "cluster B's credential": credential_b, "a bad checksum": credential_a[:-1] + ("x" if credential_a[-1] != "x" else "y"),
                             "the API token's secret": ops.secret}.items():
        response = review(server, a, credential, token_a)
        assert response.status_code == 401, f"{what}: {response.status_code} {response.text[:200]}"
        assert "authenticated" not in response.text
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), response.headers
    basic = http("POST", a["token_review_url"], auth=(ops.id, ops.secret), json=kube_models.token_review(token_a),
                 verify=server.verify)
    assert basic.status_code == 401, "an API token is no webhook credential"
    assert review(server, a, credential_a, token_a, "authentication.k8s.io/v2").status_code == 400

    # Running auth-config again replaces the credential: the old one is refused at once, the new one works.
    files = machine.auth_config(a["id"], "webhook", tmp_path / "again", profile="ops")
    renewed = yaml.safe_load((files / "webhook.kubeconfig").read_text())["users"][0]["user"]["token"]
    assert renewed != credential_a
    assert review(server, a, credential_a, token_a).status_code == 401
    assert reviewed_user(review(server, a, renewed, token_a)).username == ops.username
    assert api(server, "GET", f"/v1/clusters/{a['id']}", ops).json()["webhook_configured"] is True

    # A deleted cluster: its credential and its tokens are worth nothing.
    machine.cloudfleet("clusters", "delete", b["id"], "--yes", "--profile", "ops")
    assert review(server, b, credential_b, token_b).status_code == 401
    assert api(server, "POST", f"/v1/clusters/{b['id']}/token", ops).status_code == 404


def test_clusters_of_another_organization_are_out_of_reach(server, bootstrap):
    ops = new_token(server, bootstrap, "Administrator")
    ours = new_cluster(server, ops)
    our_credential = webhook_credential(server, ops, ours["id"])
    org = server.admin("create-organization", "--name", "k8s e2e other org")
    made = server.admin("create-token", "--name", "other org admin", "--role", "Administrator", "--organization", org["organization_id"])
    stranger = Token(made["id"], remember(made["secret"]), "Administrator", "other org admin")
    theirs = new_cluster(server, stranger)
    their_credential = webhook_credential(server, stranger, theirs["id"])
    their_token = cluster_token(server, stranger, theirs["id"])

    for method, path in [("GET", ""), ("DELETE", ""), ("POST", "/token"), ("POST", "/webhook-credential")]:
        response = api(server, method, f"/v1/clusters/{ours['id']}{path}", stranger)
        assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text[:200]}"
    assert ours["id"] not in {c["id"] for c in api(server, "GET", "/v1/clusters", stranger).json()["items"]}
    assert reviewed_user(review(server, ours, our_credential, their_token)) is None
    assert review(server, ours, their_credential, their_token).status_code == 401
    assert review(server, theirs, our_credential, their_token).status_code == 401
    # Nothing of ours was touched: our credential still works for our tokens.
    assert reviewed_user(review(server, ours, our_credential, cluster_token(server, ops, ours["id"]))).username == ops.username


# =================================================================================================================
# 4. TokenReview through the official Kubernetes Python client's models
# =================================================================================================================


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
def test_token_review_with_the_kubernetes_client_models(api_version, server, bootstrap, org_id):
    ops = new_token(server, bootstrap, "Administrator")
    cluster = new_cluster(server, ops)
    credential = webhook_credential(server, ops, cluster["id"])
    viewer = new_token(server, bootstrap, "User")
    token = cluster_token(server, viewer, cluster["id"])

    request = k8s.V1TokenReview(api_version=api_version, kind="TokenReview",
                                spec=k8s.V1TokenReviewSpec(token=token, audiences=["https://kubernetes.default.svc.cluster.local"]))
    wire = kube_models.to_wire(request)
    assert wire["spec"]["token"] == token and "api_version" not in wire and wire["apiVersion"] == api_version, wire
    response = http("POST", cluster["token_review_url"], json=wire, headers={"Authorization": f"Bearer {credential}"},
                    verify=server.verify)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    parsed = kube_models.parse_token_review(response.text)
    assert isinstance(parsed, k8s.V1TokenReview)
    assert (parsed.api_version, parsed.kind) == (api_version, "TokenReview"), "the answer must echo the request's apiVersion"
    assert parsed.status.authenticated is True and not parsed.status.audiences and not parsed.status.error
    user = parsed.status.user
    assert isinstance(user, k8s.V1UserInfo)
    assert (user.username, user.uid, user.groups) == (viewer.username, viewer.id, [USER_GROUP])
    assert user.extra == {ORG_KEY: [org_id], NAME_KEY: [viewer.name]}
    assert not any(g.startswith("system:") for g in user.groups) and not user.username.startswith("system:")

    # A refusal parses too: plain authenticated=false, same version, no user.
    refusal = http("POST", cluster["token_review_url"], json=kube_models.token_review("nope", api_version=api_version),
                   headers={"Authorization": f"Bearer {credential}"}, verify=server.verify)
    parsed = kube_models.parse_token_review(refusal.text)
    assert (parsed.api_version, parsed.status.authenticated, parsed.status.user) == (api_version, False, None), refusal.text
    # What a Go kube-apiserver sends may carry zero values and fields unknown to the webhook: still a review.
    raw = {"kind": "TokenReview", "apiVersion": api_version, "metadata": {"creationTimestamp": None},
           "spec": {"token": token, "audiences": ["https://kubernetes.default.svc.cluster.local"]}, "status": {"user": {}},
           "someFutureField": True}
    go_style = http("POST", cluster["token_review_url"], json=raw, headers={"Authorization": f"Bearer {credential}"},
                    verify=server.verify)
    assert reviewed_user(go_style, api_version).username == viewer.username


def raw_connection(server: ServerProcess) -> socket.socket:
    """One TLS connection to the server, with Nagle off so that each `sendall` leaves at once."""
    context = ssl.create_default_context(cafile=str(server.tls.ca))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return context.wrap_socket(sock, server_hostname="127.0.0.1")


def read_answers(stream, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """`count` HTTP/1.1 answers read one after the other from a connection (each with a Content-Length)."""
    answers = []
    for _ in range(count):
        status_line = stream.readline()
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        headers: dict[str, str] = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        answers.append((int(status_line.split()[1]), headers, stream.read(int(headers["content-length"]))))
    return answers


def test_pipelined_reviews_are_answered_in_order(server, bootstrap):
    """Reviews answered from the caches on the event loop and requests that go through the router, pipelined on one
    connection, are answered in the order they were sent, each with its own answer."""
    cluster = new_cluster(server, bootstrap)
    credential = webhook_credential(server, bootstrap, cluster["id"])
    viewer = new_token(server, bootstrap, "User")
    token = cluster_token(server, viewer, cluster["id"])
    assert reviewed_user(review(server, cluster, credential, token)).username == viewer.username  # fills the caches
    path = urlsplit(cluster["token_review_url"]).path

    def review_request(api_version: str, reviewed: str) -> bytes:
        body = json.dumps(kube_models.token_review(reviewed, api_version=api_version)).encode()
        return (f"POST {path} HTTP/1.1\r\nHost: cloudfleet\r\nAuthorization: Bearer {credential}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    health = b"GET /healthz HTTP/1.1\r\nHost: cloudfleet\r\n\r\n"
    unknown = cluster_token(server, bootstrap, cluster["id"])  # not reviewed yet: its signature is checked by the router
    sequence = [
        (review_request(V1, token), (V1, viewer.username)),
        (health, None),
        (review_request(V1BETA1, token), (V1BETA1, viewer.username)),
        (review_request(V1, "garbage"), (V1, None)),
        (review_request(V1BETA1, unknown), (V1BETA1, "service-account-" + bootstrap.id.lower())),
        (review_request(V1, token), (V1, viewer.username)),
        (health, None),
        (review_request(V1BETA1, token), (V1BETA1, viewer.username)),
    ]
    with raw_connection(server) as connection, connection.makefile("rb") as stream:
        connection.sendall(b"".join(request for request, _ in sequence))
        answers = read_answers(stream, len(sequence))
        # A review whose head and body arrive apart, then the same in three pieces.
        for pieces in ((1,), (1, 200)):
            request = review_request(V1, token)
            head_end = request.index(b"\r\n\r\n") + 4
            cuts = [0, head_end, *(head_end + cut for cut in pieces[1:]), len(request)]
            for start, end in zip(cuts, cuts[1:]):
                connection.sendall(request[start:end])
            answers += read_answers(stream, 1)
            sequence.append((request, (V1, viewer.username)))
    request_ids = set()
    for (_, expected), (status, headers, body) in zip(sequence, answers, strict=True):
        assert status == 200, body
        request_ids.add(headers["x-request-id"])
        if expected is None:
            assert body == b"ok\n", body
            continue
        api_version, username = expected
        answer = json.loads(body)
        assert answer["apiVersion"] == api_version, answer
        assert answer["status"]["authenticated"] is (username is not None), answer
        if username is not None:
            assert answer["status"]["user"]["username"] == username, answer
    assert len(request_ids) == len(sequence), "each answer has a request ID of its own"


# =================================================================================================================
# 5. Cluster tokens verify with PyJWT from discovery + JWKS alone; signing-key rotation
# =================================================================================================================


def discover(server: ServerProcess) -> tuple[dict, dict]:
    """The discovery document and the JWKS it names, fetched over HTTPS with nothing but the CA."""
    discovery = http("GET", server.url + "/.well-known/openid-configuration", timeout=10, verify=str(server.tls.ca))
    assert discovery.status_code == 200, discovery.text
    openapi_contract.check("GET", "/.well-known/openid-configuration", discovery)
    document = discovery.json()
    assert document["issuer"] == server.url, document
    assert urlsplit(document["jwks_uri"]).scheme == "https", document
    assert "RS256" in document["id_token_signing_alg_values_supported"], document
    jwks = http("GET", document["jwks_uri"], timeout=10, verify=str(server.tls.ca))
    assert jwks.status_code == 200, jwks.text
    openapi_contract.check("GET", "/.well-known/jwks.json", jwks)
    return document, jwks.json()


def verify_with_jwks(token: str, document: dict, jwks: dict, audience: str) -> dict:
    """Verifies `token` with the published key its `kid` names, by that key's own algorithm (never the token's)."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] in ("RS256", "ES256") and header.get("kid"), header
    keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys}
    assert header["kid"] in keys, f"kid {header['kid']} is not in the JWKS ({sorted(keys)})"
    algorithm = next(key["alg"] for key in jwks["keys"] if key["kid"] == header["kid"])
    assert header["alg"] == algorithm, (header, algorithm)
    return jwt.decode(token, keys[header["kid"]].key, algorithms=[algorithm], audience=audience, issuer=document["issuer"],
                      options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]})


def assert_jwks_members_are_base64url(jwks: dict) -> None:
    assert jwks["keys"], jwks
    for key in jwks["keys"]:
        assert key["use"] == "sig" and B64URL_RE.match(key["kid"]), key
        assert "d" not in key and "p" not in key, "a private member in the JWKS"
        if key["kty"] == "EC":
            assert (key["alg"], key["crv"]) == ("ES256", "P-256") and "n" not in key, key
            for member in ("x", "y"):
                assert B64URL_RE.match(key[member]), f"{member} is not base64url without padding: {key[member]!r}"
                assert len(base64.urlsafe_b64decode(key[member] + "=" * (-len(key[member]) % 4))) == 32, key
            continue
        assert (key["kty"], key["alg"]) == ("RSA", "RS256") and "x" not in key, key
        for member in ("n", "e"):
            assert B64URL_RE.match(key[member]), f"{member} is not base64url without padding: {key[member]!r}"
        assert int.from_bytes(base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4)), "big").bit_length() >= 2048
        assert base64.urlsafe_b64decode(key["e"] + "=" * (-len(key["e"]) % 4)) == b"\x01\x00\x01"
        assert base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))[0] != 0, "n has a leading zero byte"


def test_cluster_tokens_verify_from_discovery_and_jwks_and_survive_rotation(server, bootstrap, org_id):
    ops = new_token(server, bootstrap, "Administrator")
    cluster = new_cluster(server, ops)
    credential = webhook_credential(server, ops, cluster["id"])
    document, jwks = discover(server)
    assert_jwks_members_are_base64url(jwks)
    assert cluster["issuer"] == document["issuer"] and cluster["audience"] == f"cloudfleet:cluster:{cluster['id']}"

    # By Basic auth and by an access token alike.
    response = api(server, "POST", f"/v1/clusters/{cluster['id']}/token", ops)
    assert response.status_code == 200 and response.headers.get("Cache-Control") == "no-store", response.headers
    issued = response.json()
    assert issued["token_type"] == "Bearer" and issued["cluster_id"] == cluster["id"], issued
    access = api(server, "POST", "/v1/auth/token", ops, data={"grant_type": "client_credentials"}).json()["access_token"]
    by_bearer = api(server, "POST", f"/v1/clusters/{cluster['id']}/token", bearer=access)
    assert by_bearer.status_code == 200, by_bearer.text

    for token in (issued["token"], by_bearer.json()["token"]):
        claims = verify_with_jwks(token, document, jwks, cluster["audience"])
        assert claims["sub"] == ops.id and claims["token_use"] == "kube" and claims["cluster"] == cluster["id"], claims
        assert claims["aud"] in (cluster["audience"], [cluster["audience"]]), claims["aud"]
        assert (claims["org"], claims["role"], claims["gen"], claims["token_name"]) == (org_id, "Administrator", 1, ops.name), claims
        assert claims["k8s_username"] == ops.username and claims["k8s_groups"] == [ADMIN_GROUP], claims
        assert claims["iat"] <= claims["nbf"] <= time.time() + 5 and claims["exp"] - claims["iat"] == 600, claims
    claims = claims_of(issued["token"])
    assert issued["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"])), issued
    assert 590 <= issued["expires_in"] <= 600, issued
    with pytest.raises(jwt.InvalidAudienceError):
        verify_with_jwks(issued["token"], document, jwks, f"cloudfleet:cluster:{uuid.uuid4()}")

    # Rotation (SQLite: the running server picks the new key up when restarted, as `admin rotate-signing-key` says).
    old_kid = jwt.get_unverified_header(issued["token"])["kid"]
    rotated = subprocess.run([str(server.binary), "admin", "rotate-signing-key", "--data-dir", str(server.data_dir)],
                             capture_output=True, text=True, timeout=60, env=clean_env(SWIFT_BACKTRACE="enable=no"))
    assert rotated.returncode == 0, rotated.stderr
    server.stop()
    server.start()
    document, jwks = discover(server)
    assert_jwks_members_are_base64url(jwks)
    kids = [key["kid"] for key in jwks["keys"]]
    assert old_kid in kids and len(kids) == len(set(kids)) >= 2, kids
    fresh = cluster_token(server, ops, cluster["id"])
    new_kid = jwt.get_unverified_header(fresh)["kid"]
    assert new_kid != old_kid and new_kid in kids and new_kid in rotated.stdout, (old_kid, new_kid, rotated.stdout)
    for token in (issued["token"], fresh):  # both verify from the published keys alone, and at the webhook
        assert verify_with_jwks(token, document, jwks, cluster["audience"])["sub"] == ops.id
        assert reviewed_user(review(server, cluster, credential, token)).username == ops.username

    # And on to ES256: the tokens of every key still published verify from the published keys alone, as an API server
    # does with the `--oidc-signing-algs=RS256,ES256` that `clusters auth-config` prints, and at the webhook.
    def rotate_to(algorithm: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(server.binary), "admin", "rotate-signing-key", "--algorithm", algorithm, "--data-dir",
                               str(server.data_dir)],
                              capture_output=True, text=True, timeout=60, env=clean_env(SWIFT_BACKTRACE="enable=no"))

    refused = rotate_to("HS256")  # a symmetric key could not be published: refused, and nothing is made
    assert refused.returncode == 64 and "'RS256'" in refused.stderr and "'ES256'" in refused.stderr, refused.stderr
    rotated = rotate_to("es256")  # JOSE names are upper case; the lower-case spelling means the same
    assert rotated.returncode == 0 and rotated.stdout.strip().endswith("(ES256)"), (rotated.stdout, rotated.stderr)
    server.stop()
    server.start()
    document, jwks = discover(server)
    assert document["id_token_signing_alg_values_supported"] == ["ES256", "RS256"], document
    assert_jwks_members_are_base64url(jwks)
    assert sorted(key["kty"] for key in jwks["keys"]) == ["EC", "RSA", "RSA"], jwks
    signed_es256 = cluster_token(server, ops, cluster["id"])
    assert jwt.get_unverified_header(signed_es256)["alg"] == "ES256"
    apiserver = JWTVerifier(document["issuer"], [cluster["audience"]], ["RS256", "ES256"], str(server.tls.ca))
    for token in (issued["token"], fresh, signed_es256):
        assert verify_with_jwks(token, document, jwks, cluster["audience"])["sub"] == ops.id
        assert apiserver.claims(token)["k8s_username"] == ops.username
        assert reviewed_user(review(server, cluster, credential, token)).username == ops.username


# =================================================================================================================
# 6. The exec plugin's cache makes no network call
# =================================================================================================================


def exec_credential(machine: Machine, cluster_id: str, profile: str, **kwargs) -> Run:
    return machine.cloudfleet("clusters", "exec-credential", cluster_id, "--profile", profile, **kwargs)


def cached_entries(machine: Machine) -> list[Path]:
    return sorted(machine.cache_dir.glob("cluster-token-*"))


@pytest.fixture
def plugin_setup(server, machine, bootstrap) -> tuple[Machine, dict, Token]:
    viewer = new_token(server, bootstrap, "User")
    cluster = new_cluster(server, bootstrap)
    machine.add_profile("viewer", viewer)
    return machine, cluster, viewer


def test_exec_credential_populates_a_private_cache(plugin_setup, server, bootstrap):
    machine, cluster, viewer = plugin_setup
    first = exec_credential(machine, cluster["id"], "viewer")
    credential = first.json()
    assert (credential["apiVersion"], credential["kind"]) == ("client.authentication.k8s.io/v1", "ExecCredential"), credential
    token = remember(credential["status"]["token"])
    assert claims_of(token)["sub"] == viewer.id and claims_of(token)["cluster"] == cluster["id"]
    expiry = credential["status"]["expirationTimestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expiry) and expiry == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims_of(token)["exp"])), expiry
    (entry,) = cached_entries(machine)
    assert mode(entry) == 0o600 and mode(machine.cache_dir) == 0o700, (oct(mode(entry)), oct(mode(machine.cache_dir)))
    assert token in entry.read_text()
    for revealing in (viewer.secret, viewer.id, cluster["id"]):
        assert revealing not in entry.name, "the cache file name reveals what it is for"
    # kubectl asks for v1beta1 through KUBERNETES_EXEC_INFO when its kubeconfig says so: same token, that version.
    beta = exec_credential(machine, cluster["id"], "viewer", env={"KUBERNETES_EXEC_INFO": json.dumps(
        {"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "spec": {"interactive": False}})}).json()
    assert beta["apiVersion"] == "client.authentication.k8s.io/v1beta1" and beta["status"]["token"] == token


def test_exec_credential_answers_from_the_cache_without_a_network(plugin_setup):
    machine, cluster, _ = plugin_setup
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n (a new network namespace) is not permitted here; the stopped-server test covers the cache")
    first = exec_credential(machine, cluster["id"], "viewer")
    isolated = exec_credential(machine, cluster["id"], "viewer", prefix=("unshare", "-n"))
    assert isolated.stdout == first.stdout
    # The control: without the cache, the same isolated call cannot work, so the cache is what answered.
    shutil.rmtree(machine.cache_dir)
    assert exec_credential(machine, cluster["id"], "viewer", prefix=("unshare", "-n"), expect=None).returncode != 0


def test_exec_credential_answers_from_the_cache_while_the_server_is_down(plugin_setup, server):
    machine, cluster, _ = plugin_setup
    first = exec_credential(machine, cluster["id"], "viewer")
    server.stop()
    try:
        again = exec_credential(machine, cluster["id"], "viewer")
        assert again.stdout == first.stdout
        # No cache and an unreachable server: a clean failure.
        shutil.rmtree(machine.cache_dir)
        failed = exec_credential(machine, cluster["id"], "viewer", expect=None, timeout=20)
        assert_one_line_error(failed)
        assert server.url in failed.stderr, failed
    finally:
        server.start()


def test_exec_credential_error_when_the_api_cannot_be_reached(plugin_setup, bootstrap):
    machine, cluster, viewer = plugin_setup
    machine.add_profile("nowhere", viewer, api_url=f"https://127.0.0.1:{free_port()}")
    started = time.monotonic()
    failed = exec_credential(machine, cluster["id"], "nowhere", expect=None, timeout=20)
    assert_one_line_error(failed)
    assert time.monotonic() - started < 10, "a refused connection must fail fast"
    assert not cached_entries(machine), "a failure cached something"


def test_exec_credential_errors_are_one_line(plugin_setup):
    machine, cluster, _ = plugin_setup
    unknown = exec_credential(machine, str(uuid.uuid4()), "viewer", expect=None)
    assert unknown.returncode == 5, unknown
    assert_one_line_error(unknown)
    assert not cached_entries(machine)
    no_profile = exec_credential(machine, cluster["id"], "nobody", expect=None)
    assert no_profile.returncode == 1, no_profile
    assert_one_line_error(no_profile)
    assert exec_credential(machine, "not-a-cluster-id", "viewer", expect=None).returncode == 64


def test_exec_credential_never_reuses_the_entry_of_a_changed_secret(plugin_setup, server, bootstrap, tmp_path):
    machine, cluster, viewer = plugin_setup
    old = exec_credential(machine, cluster["id"], "viewer").json()["status"]["token"]
    regenerated = api(server, "POST", f"/v1/tokens/{viewer.id}/secret", bootstrap)
    assert regenerated.status_code == 200, regenerated.text
    machine.add_profile("viewer", Token(viewer.id, regenerated.json()["secret"], viewer.role, viewer.name))
    new = exec_credential(machine, cluster["id"], "viewer").json()["status"]["token"]
    remember(new)
    assert new != old and claims_of(new)["gen"] == claims_of(old)["gen"] + 1
    assert len(cached_entries(machine)) == 2
    credential = webhook_credential(server, bootstrap, cluster["id"])
    assert reviewed_user(review(server, cluster, credential, old)) is None
    assert reviewed_user(review(server, cluster, credential, new)).username == viewer.username
    # And the new entry is what the next call answers.
    assert exec_credential(machine, cluster["id"], "viewer").json()["status"]["token"] == new


# =================================================================================================================
# 7. Merging into a kubeconfig never clobbers
# =================================================================================================================


def existing_kubeconfig(pki: PKI) -> str:
    ca_data = base64.b64encode(pki.cluster_ca_pem.encode()).decode()
    return f"""\
apiVersion: v1
kind: Config
preferences:
  colors: true
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
    certificate-authority-data: {ca_data}
    tls-server-name: "prod.internal"
- name: dev
  cluster:
    server: https://10.0.0.1:6443
    insecure-skip-tls-verify: true
    proxy-url: http://proxy.example:3128
users:
- name: alice
  user:
    token: "0123456789"
- name: carol
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: some-plugin
      args: ["--flag", "yes", "on", "null", "1e3", "~", "0x1F", "true"]
      env: [{{name: FOO, value: "1.10"}}, {{name: BAR, value: "no"}}]
      interactiveMode: IfAvailable
contexts:
- name: prod
  context: {{cluster: prod, user: alice, namespace: "007"}}
- name: dev
  context:
    cluster: dev
    user: carol
    namespace: "123"
current-context: prod
"""


def assert_kept(before: dict, after: dict) -> None:
    """Every entry and preference of `before` is in `after` unchanged (`kubectl config view` form or raw YAML)."""
    for kind in ("clusters", "users", "contexts"):
        kept = by_name(after.get(kind))
        for name, entry in by_name(before.get(kind)).items():
            assert kept.get(name) == entry, f"{kind} {name!r} changed:\n{entry}\n->\n{kept.get(name)}"
    for key, value in before.items():
        if key not in ("clusters", "users", "contexts", "current-context"):
            assert after.get(key) == value, f"{key} changed: {value!r} -> {after.get(key)!r}"


def test_kubeconfig_merge_keeps_everything_else(server, machine, pki, bootstrap, tmp_path):
    ops = new_token(server, bootstrap, "Administrator")
    machine.add_profile("ops", ops)
    cluster = new_cluster(server, ops, endpoint="https://203.0.113.7:6443", ca_pem=pki.cluster_ca_pem)
    path = tmp_path / "kube" / "config"
    path.parent.mkdir()
    path.write_text(existing_kubeconfig(pki))
    path.chmod(0o644)
    view_before, raw_before = machine.config_view(path), yaml.safe_load(path.read_text())

    printed = machine.kubeconfig(cluster["id"], "ops", path)
    assert ops.username in printed.stdout, printed
    view_after, raw_after = machine.config_view(path), yaml.safe_load(path.read_text())
    assert_kept(view_before, view_after)
    assert_kept(raw_before, raw_after)
    assert mode(path) == 0o600, oct(mode(path))
    added = {kind: set(by_name(view_after[kind])) - set(by_name(view_before[kind])) for kind in ("clusters", "users", "contexts")}
    assert all(len(names) == 1 for names in added.values()), added
    (context,) = added["contexts"]
    assert view_after["current-context"] == context

    # Again, without --set-current: replaced in place (no duplicates), and the current context is left alone.
    machine.kubectl("config", "use-context", "dev", "--kubeconfig", str(path))
    machine.kubeconfig(cluster["id"], "ops", path, "--no-set-current")
    view_again = machine.config_view(path)
    assert view_again["current-context"] == "dev"
    for kind in ("clusters", "users", "contexts"):
        assert sorted(e["name"] for e in view_again[kind]) == sorted(e["name"] for e in view_after[kind]), kind
    assert_kept({k: v for k, v in view_after.items() if k != "current-context"}, view_again)


def test_kubeconfig_goes_to_the_first_file_of_KUBECONFIG_or_home(server, machine, pki, bootstrap, tmp_path):
    ops = new_token(server, bootstrap, "Administrator")
    machine.add_profile("ops", ops)
    cluster = new_cluster(server, ops, ca_pem=pki.cluster_ca_pem)
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\ncurrent-context: \"\"\n")
    second.write_text(existing_kubeconfig(pki))
    second_bytes = second.read_bytes()
    env = {"KUBECONFIG": f"{first}:{second}"}
    machine.cloudfleet("clusters", "kubeconfig", cluster["id"], "--profile", "ops", env=env)
    assert second.read_bytes() == second_bytes, "the second file of $KUBECONFIG was changed"
    written = yaml.safe_load(first.read_text())
    assert len(written["contexts"]) == 1 and mode(first) == 0o600, written
    merged = machine.config_view(env=env)  # kubectl sees both files, the new context current
    assert merged["current-context"] == written["contexts"][0]["name"]
    assert {"prod", "dev"} <= set(by_name(merged["contexts"]))

    # Without $KUBECONFIG: ~/.kube/config, created private.
    machine.cloudfleet("clusters", "kubeconfig", cluster["id"], "--profile", "ops")
    default = machine.home / ".kube" / "config"
    assert mode(default) == 0o600 and mode(default.parent) == 0o700
    assert yaml.safe_load(default.read_text())["current-context"] == written["contexts"][0]["name"]


@pytest.mark.parametrize("content", [
    "apiVersion: v1\nclusters: [\n  - name: broken\n",  # not YAML
    "- just\n- a list\n",  # YAML, but no kubeconfig
    "apiVersion: v1\nkind: Config\nclusters:\n  prod: {server: https://x}\n",  # clusters not a list
])
def test_kubeconfig_that_cannot_be_merged_is_left_unchanged(content, server, machine, bootstrap, tmp_path):
    ops = new_token(server, bootstrap, "Administrator")
    machine.add_profile("ops", ops)
    cluster = new_cluster(server, ops)
    path = tmp_path / "kube" / "config"
    path.parent.mkdir()
    path.write_text(content)
    path.chmod(0o640)
    failed = machine.cloudfleet("clusters", "kubeconfig", cluster["id"], "--profile", "ops", "--kubeconfig", str(path), expect=None)
    assert_one_line_error(failed)
    assert str(path) in failed.stderr, failed
    assert path.read_text() == content and mode(path) == 0o640, "the file was changed"
    assert [p.name for p in path.parent.iterdir()] == ["config"], "a temporary file was left behind"


def test_kubeconfig_symlink_is_followed_not_replaced(server, machine, pki, bootstrap, tmp_path):
    """A kubeconfig that is a symlink (dotfile managers do this) gets the entries in its target, as kubectl does."""
    ops = new_token(server, bootstrap, "Administrator")
    machine.add_profile("ops", ops)
    cluster = new_cluster(server, ops, ca_pem=pki.cluster_ca_pem)
    target = tmp_path / "dotfiles" / "kubeconfig"
    target.parent.mkdir()
    target.write_text(existing_kubeconfig(pki))
    link = tmp_path / "config"
    link.symlink_to(target)
    machine.kubeconfig(cluster["id"], "ops", link)
    assert link.is_symlink(), "the symlinked kubeconfig was replaced by a regular file"
    assert len(yaml.safe_load(target.read_text())["contexts"]) == 3


# =================================================================================================================
# 8. auth-config: every output is valid and says what Kubernetes needs
# =================================================================================================================


def load_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def check_rbac(files: Path, example_token: Token) -> None:
    bindings = [kube_models.parse(doc, "V1ClusterRoleBinding") for doc in load_yaml_documents(files / "rbac.yaml")]
    assert len(bindings) == 2
    roles = {}
    for binding in bindings:
        assert isinstance(binding, k8s.V1ClusterRoleBinding) and binding.kind == "ClusterRoleBinding"
        assert binding.api_version == "rbac.authorization.k8s.io/v1"
        (subject,) = binding.subjects
        assert isinstance(subject, k8s.RbacV1Subject)
        assert (subject.kind, subject.api_group) == ("Group", "rbac.authorization.k8s.io"), subject
        assert (binding.role_ref.kind, binding.role_ref.api_group) == ("ClusterRole", "rbac.authorization.k8s.io")
        assert not binding.metadata.name.startswith("system:") and not subject.name.startswith("system:")
        roles[subject.name] = binding.role_ref.name
    assert roles == {ADMIN_GROUP: "cluster-admin", USER_GROUP: "view"}, roles
    (example,) = load_yaml_documents(files / "rolebinding-example.yaml")
    binding = kube_models.parse(example, "V1RoleBinding")
    assert isinstance(binding, k8s.V1RoleBinding) and binding.metadata.namespace, example
    (subject,) = binding.subjects
    assert (subject.kind, subject.name, subject.api_group) == ("User", example_token.username, "rbac.authorization.k8s.io"), subject
    assert binding.role_ref.kind == "ClusterRole" and binding.role_ref.name, binding.role_ref


def leading_comments(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    comments = []
    for line in lines:
        if not line.startswith("#"):
            break
        comments.append(line)
    return comments


@pytest.mark.parametrize("version, api_version", [
    ("1.29", "apiserver.config.k8s.io/v1alpha1"),
    ("1.31", "apiserver.config.k8s.io/v1beta1"),
    ("1.34", "apiserver.config.k8s.io/v1"),
    ("1.28", None),
])
def test_oidc_auth_config_outputs(version, api_version, server, machine, pki, bootstrap, tmp_path):
    ops = new_token(server, bootstrap, "Administrator")
    machine.add_profile("ops", ops)
    cluster = new_cluster(server, ops)
    files = machine.auth_config(cluster["id"], "oidc", tmp_path / "out", "--kubernetes-version", version, profile="ops")
    names = {p.name for p in files.iterdir()}
    expected = {"kube-apiserver-oidc.flags", "issuer-ca.crt", "rbac.yaml", "rolebinding-example.yaml"}
    assert names == expected | ({"authentication-config.yaml"} if api_version else set()), names
    for name in names - {"kube-apiserver-oidc.flags", "issuer-ca.crt"}:
        load_yaml_documents(files / name)  # parses
    assert (files / "issuer-ca.crt").read_text() == pki.issuer_ca_pem
    flags = OIDCFlags.parse((files / "kube-apiserver-oidc.flags").read_text())
    assert (flags.issuer_url, flags.client_id, flags.username_prefix) == (cluster["issuer"], cluster["audience"], "-")
    check_rbac(files, ops)
    if api_version is None:
        return

    path = files / "authentication-config.yaml"
    assert leading_comments(path), "the AuthenticationConfiguration starts with comment lines saying how to use it"
    (config,) = load_yaml_documents(path)
    assert (config["apiVersion"], config["kind"]) == (api_version, "AuthenticationConfiguration"), config
    (authenticator,) = config["jwt"]
    issuer = authenticator["issuer"]
    url = urlsplit(issuer["url"])
    assert issuer["url"] == cluster["issuer"] == server.url and url.scheme == "https", issuer
    assert not (url.username or url.password or url.query or url.fragment)
    assert issuer["audiences"] == [cluster["audience"]] and issuer.get("audienceMatchPolicy", "") in ("", "MatchAny"), issuer
    assert issuer["certificateAuthority"] == pki.issuer_ca_pem, "certificateAuthority must be the issuer's CA PEM"
    assert "discoveryURL" not in issuer or issuer["discoveryURL"] != issuer["url"]
    mappings = authenticator["claimMappings"]
    username = mappings["username"]
    assert ("claim" in username and "prefix" in username) or ("expression" in username and "claim" not in username), username
    if "claim" in username:
        assert (username["claim"], username["prefix"]) == ("k8s_username", ""), username
    assert "claim" not in mappings.get("groups", {}) or "prefix" in mappings["groups"], mappings
    for extra in mappings.get("extra", []):
        key = extra["key"]
        assert key == key.lower() and "/" in key and key.split("/")[0] not in ("k8s.io", "kubernetes.io"), key
        assert extra["valueExpression"], extra
    rules = {(r.get("claim"), r.get("requiredValue")) for r in authenticator.get("claimValidationRules", [])}
    assert {("token_use", "kube"), ("cluster", cluster["id"])} <= rules, rules
    expressions = [rule["expression"] for rule in authenticator["userValidationRules"]]
    assert all(rule.get("message") for rule in authenticator["userValidationRules"])
    # The rules really forbid system: names and groups: evaluated (CEL) in the fake API server's authenticator.
    verifier = AuthenticationConfigAuthenticator(config)
    try:
        for user, allowed in [({"username": "service-account-x", "uid": "", "groups": [USER_GROUP], "extra": {}}, True),
                              ({"username": "system:admin", "uid": "", "groups": [USER_GROUP], "extra": {}}, False),
                              ({"username": "service-account-x", "uid": "", "groups": ["system:masters"], "extra": {}}, False)]:
            results = [verifier._eval(expression, user=user) for expression in expressions]
            assert all(results) == allowed, (user, expressions, results)
    finally:
        verifier.close()


def test_webhook_auth_config_outputs(server, machine, pki, bootstrap, tmp_path):
    ops = new_token(server, bootstrap, "Administrator")
    machine.add_profile("ops", ops)
    cluster = new_cluster(server, ops)
    files = machine.auth_config(cluster["id"], "webhook", tmp_path / "out", "--webhook-cache-ttl", "45s", profile="ops")
    assert {p.name for p in files.iterdir()} == {"webhook.kubeconfig", "kube-apiserver-webhook.flags", "rbac.yaml",
                                                  "rolebinding-example.yaml"}
    assert mode(files / "webhook.kubeconfig") == 0o600
    view = machine.config_view(files / "webhook.kubeconfig")  # kubectl reads it
    context = by_name(view["contexts"])[view["current-context"]]["context"]
    cluster_entry = by_name(view["clusters"])[context["cluster"]]["cluster"]
    user_entry = by_name(view["users"])[context["user"]]["user"]
    assert cluster_entry["server"] == cluster["token_review_url"] == f"{server.url}/v1/clusters/{cluster['id']}/tokenreview"
    assert base64.b64decode(cluster_entry["certificate-authority-data"]).decode() == pki.issuer_ca_pem
    assert CREDENTIAL_RE.fullmatch(user_entry["token"]) and set(user_entry) == {"token"}, user_entry
    token = cluster_token(server, ops, cluster["id"])
    assert reviewed_user(review(server, cluster, user_entry["token"], token)).username == ops.username

    lines = [line for line in (files / "kube-apiserver-webhook.flags").read_text().splitlines() if line.startswith("--")]
    assert lines == [f"--authentication-token-webhook-config-file={FLAG_DIR}/webhook.kubeconfig",
                     "--authentication-token-webhook-version=v1", "--authentication-token-webhook-cache-ttl=45s"], lines
    check_rbac(files, ops)
    for name in ("rbac.yaml", "rolebinding-example.yaml", "kube-apiserver-webhook.flags"):
        assert user_entry["token"] not in (files / name).read_text() and mode(files / name) & 0o077 in (0, 0o044)

    # Printed instead of written: the same files, each under a header line.
    printed = machine.cloudfleet("clusters", "auth-config", cluster["id"], "--mode", "webhook", "--profile", "ops").stdout
    headers = re.findall(r"^# ===== ([\w.-]+): .* =====$", printed, re.M)
    assert headers == ["webhook.kubeconfig", "kube-apiserver-webhook.flags", "rbac.yaml", "rolebinding-example.yaml"], headers

    # A User token may read the cluster, not issue its webhook credential: exit 4, and the credential is unchanged.
    viewer = new_token(server, bootstrap, "User")
    machine.add_profile("viewer", viewer)
    forbidden = machine.cloudfleet("clusters", "auth-config", cluster["id"], "--mode", "webhook", "--profile", "viewer",
                                   "--output-dir", str(tmp_path / "viewer"), expect=None)
    assert forbidden.returncode == 4, forbidden
    assert_one_line_error(forbidden)
    assert not (tmp_path / "viewer" / "webhook.kubeconfig").exists()
    current = yaml.safe_load(printed.split("# ===== kube-apiserver-webhook.flags")[0].split("=====\n", 1)[1])
    current_credential = remember(current["users"][0]["user"]["token"])
    assert reviewed_user(review(server, cluster, current_credential, token)).username == ops.username


# =================================================================================================================
# 9. No secret in the server's logs
# =================================================================================================================


def test_no_credential_secret_or_token_in_the_server_logs(server, bootstrap):
    # Successes and refusals of every kind, so that the debug log had its chances (the module's tests ran before).
    ops = new_token(server, bootstrap, "Administrator")
    cluster = new_cluster(server, ops)
    credential = webhook_credential(server, ops, cluster["id"])
    token = cluster_token(server, ops, cluster["id"])
    assert reviewed_user(review(server, cluster, credential, token)) is not None
    assert reviewed_user(review(server, cluster, credential, token + "x")) is None
    assert reviewed_user(review(server, cluster, credential, ops.secret)) is None
    assert review(server, cluster, well_formed_credential(), token).status_code == 401
    assert review(server, cluster, ops.secret, token).status_code == 401
    assert {credential, token, ops.secret} <= SECRETS

    logs = [(p, p.read_text(errors="replace")) for p in [*server.stdout_paths, *server.stderr_paths] if p.exists()]
    assert logs and any("debug" in text.lower() for _, text in logs), "no debug log to check"
    banner = server.stdout_paths[0]
    leaks = []
    for path, text in logs:
        if path == banner:  # the first start's banner shows the bootstrap secret, by design, and only that
            text = text.replace(bootstrap.secret, "")
        for value in SECRETS:
            pieces = [value] + (value.split(".")[1:] if JWT_RE.fullmatch(value) else [value[5:45]] if len(value) > 45 else [])
            if any(piece and piece in text for piece in pieces):
                leaks.append(f"{path.name}: {value[:12]}…")
        for pattern in (CREDENTIAL_RE, SECRET_RE, JWT_RE):
            leaks += [f"{path.name}: shaped like a secret: {m.group(0)[:12]}…" for m in pattern.finditer(text)]
    assert not leaks, "secrets in the server's logs:\n" + "\n".join(sorted(set(leaks)))
