"""End-to-end tests of the real `cloudfleet-server` binary over real HTTP.

Every flow of the seed document (create, list, regenerate, delete a token; use it) is driven through the HTTP
API on both authentication paths (HTTP Basic `token_id:secret`, and a Bearer access token from
`POST /v1/auth/token`), together with authorization, organization isolation, input validation, pagination,
the audit trail, secrets at rest and in logs, restart and graceful shutdown.

Run: `python3 -m pytest Tests/e2e -q` (see conftest.py for how the binary is found and started).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

import openapi_contract
from conftest import Seen, record_issued, ServerProcess, bad_checksum, clean_env, free_port, parse_banner, checksum_ok, run_admin_raw, unique, unknown_token_id, well_formed_wrong_secret

# =================================================================================================================
# Helpers
# =================================================================================================================

_BASE = {"url": None}  # the session server's URL, set by the autouse fixture below
_MISSING = object()

TOKEN_FIELDS = {
    "id", "name", "role", "organization_id", "kubernetes_username", "secret_generation", "created_at",
    "updated_at", "secret_rotated_at", "last_used_at", "last_used_ip", "last_used_user_agent", "secret_last_used_at",
    "expires_at", "allowed_cidrs", "previous_secret_valid_until", "previous_secret_last_used_at", "created_by",
}
AUDIT_FIELDS = {
    "id", "occurred_at", "actor", "action", "target_type", "target_id", "source_ip", "request_id", "outcome", "details",
}
TOKEN_ID_RE = re.compile(r"^[0-9A-Za-z]{22}$")
SECRET_RE = re.compile(r"^cfs_[0-9A-Za-z]{46}$")
SECRET_SHAPE = re.compile(rb"cfs_[0-9A-Za-z]{8,}")  # a secret, or a piece of one, anywhere in bytes


@dataclass(frozen=True)
class Cred:
    """An API token's ID and secret."""

    id: str
    secret: str


def api(method: str, path: str, auth: dict | None = None, *, base: str | None = None, json=_MISSING,
        data=None, headers: dict | None = None, params=None) -> requests.Response:
    """One HTTP request to the server; `auth` is a header dict from `basic()`/`bearer()`/`bearer_jwt()`.

    Fails on any 5xx (the server must never answer garbage with a server error) and records every secret and
    access token a response carries, for the at-rest and log checks.
    """
    all_headers = dict(auth or {})
    all_headers.update(headers or {})
    kwargs = {"headers": all_headers, "params": params, "timeout": 15}
    if json is not _MISSING:
        kwargs["json"] = json
    if data is not None:
        kwargs["data"] = data
    response = requests.request(method, (base or _BASE["url"]) + path, **kwargs)
    assert response.status_code < 500, f"{method} {path} answered {response.status_code}: {response.text[:500]}"
    openapi_contract.check(method, path, response)
    record_issued(response)
    return response


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def basic(token_id: str, secret: str) -> dict:
    """`Authorization: Basic base64(token_id:secret)`."""
    return {"Authorization": "Basic " + b64(f"{token_id}:{secret}")}


def bearer_jwt(access_token: str) -> dict:
    return {"Authorization": "Bearer " + access_token}


def mint(token_id: str, secret: str, *, via: str = "basic", base: str | None = None) -> str:
    """An access token from `POST /v1/auth/token` (client credentials by Basic or by form fields)."""
    form = {"grant_type": "client_credentials"}
    auth = None
    if via == "basic":
        auth = basic(token_id, secret)
    else:
        form.update(client_id=token_id, client_secret=secret)
    response = api("POST", "/v1/auth/token", auth, base=base, data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and isinstance(body["expires_in"], int) and body["expires_in"] > 0, body
    assert response.headers.get("Cache-Control") == "no-store"
    return body["access_token"]


def bearer(token_id: str, secret: str, *, via: str = "basic", base: str | None = None) -> dict:
    """`Authorization: Bearer <access token minted now for token_id:secret>`."""
    return bearer_jwt(mint(token_id, secret, via=via, base=base))


def auth_for(kind: str, cred: Cred, base: str | None = None) -> dict:
    return basic(cred.id, cred.secret) if kind == "basic" else bearer(cred.id, cred.secret, base=base)


def oauth(form: dict | None = None, auth: dict | None = None, *, headers=None, data=None, base=None) -> requests.Response:
    return api("POST", "/v1/auth/token", auth, base=base, data=form if data is None else data, headers=headers)


def create_token(auth: dict, name: str, role: str, *, base: str | None = None) -> dict:
    response = api("POST", "/v1/tokens", auth, base=base, json={"name": name, "role": role})
    assert response.status_code == 201, response.text
    return response.json()


def list_all(auth: dict, *, limit: int = 200, base: str | None = None) -> list[dict]:
    """Every token of the caller's organization, walking `next_cursor`."""
    return _walk("/v1/tokens", auth, limit, base)


def audit_all(auth: dict, *, base: str | None = None) -> list[dict]:
    """Every audit event of the caller's organization (newest first)."""
    return _walk("/v1/audit-events", auth, 200, base)


def _walk(path: str, auth: dict, limit: int, base: str | None) -> list[dict]:
    items, cursor = [], None
    for _ in range(1000):
        params = {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
        response = api("GET", path, auth, base=base, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}, page.keys()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path} never ended")


def assert_error(response: requests.Response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The API error form `{"error": {"code", "message", "field"?}}` with this status (and code, field)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str) and error["message"], body
    if code is not None:
        assert error["code"] == code, body
    if field is not None:
        assert error.get("field") == field, body
    return error


def assert_unauthorized(response: requests.Response) -> None:
    assert_error(response, 401, "unauthorized")
    challenge = response.headers.get("WWW-Authenticate", "")
    assert "Basic" in challenge and "Bearer" in challenge, response.headers


def assert_oauth_error(response: requests.Response, status: int, error: str) -> None:
    """RFC 6749 §5.2: `{"error", "error_description"}`; 401 carries a challenge; never cached."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body.get("error") == error, body
    assert set(body) <= {"error", "error_description", "error_uri"}, body
    assert response.headers.get("Cache-Control") == "no-store"
    if status == 401:
        assert response.headers.get("WWW-Authenticate", "").startswith("Basic"), response.headers


def assert_token_shape(token: dict, *, with_secret: bool) -> None:
    assert set(token) == TOKEN_FIELDS | ({"secret"} if with_secret else set()), sorted(token)
    assert TOKEN_ID_RE.match(token["id"]), token["id"]
    assert token["kubernetes_username"] == "service-account-" + token["id"].lower()
    if with_secret:
        assert SECRET_RE.match(token["secret"]), "secret has the wrong format"
        assert checksum_ok(token["secret"]), "secret checksum does not verify offline"


def assert_no_secret_material(text: str, *secrets: str) -> None:
    """No secret or digest in a response body that must not carry one."""
    for secret in secrets:
        assert secret not in text, "a secret appears in a response that must not carry one"
    assert "digest" not in text.lower() and "hmac-sha256" not in text.lower(), text[:500]
    assert not SECRET_SHAPE.search(text.encode()), "something secret-shaped appears in the response"














def stable(token: dict) -> dict:
    """A token without the fields written behind by usage (which may change between two reads)."""
    written_behind = ("last_used_at", "last_used_ip", "last_used_user_agent", "secret_last_used_at", "previous_secret_last_used_at")
    return {k: v for k, v in token.items() if k not in written_behind}


def snapshot(auth: dict) -> tuple:
    """What garbage input must not change: every token's stable state, and the count of audit events of changes.

    Refused authentications of existing tokens are audited on purpose (`auth.*`, rate-limited); they record the
    refusal, not a change.
    """
    changes = [e for e in audit_all(auth) if not e["action"].startswith("auth.")]
    return sorted(tuple(sorted(stable(t).items())) for t in list_all(auth)), len(changes)


def data_files(data_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file()}


def find_leaks(blob: bytes, where: str) -> list[str]:
    """Every seen secret (whole, or its 40 random characters) and access token found in `blob`."""
    leaks = []
    for secret in Seen.secrets:
        for needle in (secret, secret[4:44]):
            if needle.encode() in blob:
                leaks.append(f"{where}: secret {secret[:8]}…")
    for token in Seen.access_tokens:
        if token.encode() in blob or token.rsplit(".", 1)[-1].encode() in blob:
            leaks.append(f"{where}: access token {token[:16]}…")
    shaped = SECRET_SHAPE.search(blob)
    if shaped:
        leaks.append(f"{where}: secret-shaped bytes {shaped.group(0)[:10]!r}…")
    return leaks


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# =================================================================================================================
# Fixtures
# =================================================================================================================


@pytest.fixture(autouse=True)
def _session_base(server: ServerProcess):
    _BASE["url"] = server.url
    yield


@pytest.fixture(scope="session")
def admin(server: ServerProcess) -> Cred:
    """The bootstrap Administrator token of the session server's organization."""
    return Cred(server.bootstrap.token_id, server.bootstrap.secret)


@pytest.fixture(scope="session")
def org_id(server: ServerProcess) -> str:
    return server.bootstrap.organization_id


@pytest.fixture(scope="session")
def other_org(server: ServerProcess) -> tuple[str, Cred]:
    """A second organization and its Administrator token, made with `admin` on the same data directory."""
    org = server.admin("create-organization", "--name", "E2E Second Org")
    token = server.admin("create-token", "--name", "second org admin", "--role", "Administrator",
                         "--organization", org["organization_id"])
    assert token["organization_id"] == org["organization_id"] and token["role"] == "Administrator"
    return org["organization_id"], Cred(token["id"], token["secret"])


# =================================================================================================================
# Smoke: the public routes and the 401 challenge
# =================================================================================================================


def test_public_routes_and_challenge():
    health = api("GET", "/healthz")
    assert health.status_code == 200 and health.text.strip() == "ok"
    ready = api("GET", "/readyz")
    assert ready.status_code == 200 and ready.text.strip() == "ready"
    document = api("GET", "/v1/openapi.yaml")
    assert document.status_code == 200 and "yaml" in document.headers["Content-Type"]
    assert document.headers.get("X-Request-ID"), "every response carries a request ID"
    for method, path in [("GET", "/v1/tokens"), ("POST", "/v1/tokens"), ("GET", "/v1/organization"),
                         ("GET", "/v1/audit-events"), ("DELETE", f"/v1/tokens/{unknown_token_id()}")]:
        assert_unauthorized(api(method, path))
    assert_error(api("GET", "/v2/nothing-here"), 404)


def test_openapi_document_describes_the_api():
    document = api("GET", "/v1/openapi.yaml").text
    assert document.lstrip().startswith("openapi:"), document[:200]
    for path in ("/v1/tokens", "/v1/tokens/{id}", "/v1/tokens/{id}/secret", "/v1/auth/token", "/v1/audit-events"):
        assert path in document, path


# =================================================================================================================
# 1. The seed's lifecycle, on both authentication paths
# =================================================================================================================


@pytest.mark.parametrize("auth_path", ["basic", "bearer"])
def test_token_lifecycle(auth_path, admin, org_id):
    actor = auth_for(auth_path, admin)

    # Create a User and an Administrator token: 201, Location, never cached, the secret shown once.
    created = {}
    for role in ("User", "Administrator"):
        name = "  " + unique(f"ci {role.lower()} {auth_path}") + " \t "
        response = api("POST", "/v1/tokens", actor, json={"name": name, "role": role})
        assert response.status_code == 201, response.text
        token = response.json()
        assert_token_shape(token, with_secret=True)
        assert token["name"] == name.strip(), "surrounding white space is trimmed"
        assert token["role"] == role and token["organization_id"] == org_id
        assert token["secret_generation"] == 1 and token["last_used_at"] is None and token["expires_at"] is None
        assert token["created_by"] == f"token:{admin.id}"
        assert response.headers.get("Location") == f"/v1/tokens/{token['id']}"
        assert response.headers.get("Cache-Control") == "no-store"
        created[role] = token
    user = Cred(created["User"]["id"], created["User"]["secret"])
    adm = Cred(created["Administrator"]["id"], created["Administrator"]["secret"])
    assert user.secret != adm.secret and user.id != adm.id

    # The new tokens authenticate on both paths.
    for cred in (user, adm):
        for kind in ("basic", "bearer"):
            response = api("GET", "/v1/organization", auth_for(kind, cred))
            assert response.status_code == 200, response.text
            assert response.json()["id"] == org_id

    # List: both are there, with exactly the public fields; never a secret or a digest.
    listed = api("GET", "/v1/tokens", actor, params={"limit": 200})
    assert listed.status_code == 200
    assert_no_secret_material(listed.text, user.secret, adm.secret, admin.secret)
    items = {t["id"]: t for t in list_all(actor)}
    assert {user.id, adm.id, admin.id} <= set(items)
    for item in items.values():
        assert_token_shape(item, with_secret=False)
        assert item["organization_id"] == org_id

    # Get: the same token, no secret.
    got = api("GET", f"/v1/tokens/{user.id}", actor)
    assert got.status_code == 200
    assert_no_secret_material(got.text, user.secret, adm.secret, admin.secret)
    assert_token_shape(got.json(), with_secret=False)
    assert stable(got.json()) == stable(items[user.id])

    # Patch name and role together, then each alone; get shows the change.
    new_name = unique("renamed")
    patched = api("PATCH", f"/v1/tokens/{user.id}", actor, json={"name": new_name, "role": "Administrator"})
    assert patched.status_code == 200, patched.text
    assert_token_shape(patched.json(), with_secret=False)
    assert (patched.json()["name"], patched.json()["role"]) == (new_name, "Administrator")
    assert patched.json()["secret_generation"] == 1, "a patch does not touch the secret"
    patched = api("PATCH", f"/v1/tokens/{user.id}", actor, json={"role": "User"})
    assert patched.status_code == 200 and (patched.json()["name"], patched.json()["role"]) == (new_name, "User")
    final_name = unique("renamed again")
    patched = api("PATCH", f"/v1/tokens/{user.id}", actor, json={"name": final_name})
    assert patched.status_code == 200 and (patched.json()["name"], patched.json()["role"]) == (final_name, "User")
    got = api("GET", f"/v1/tokens/{user.id}", actor).json()
    assert (got["name"], got["role"]) == (final_name, "User")
    assert api("GET", "/v1/organization", basic(user.id, user.secret)).status_code == 200, "a patch keeps the secret"

    # Regenerate: a new secret that works; the old secret and access tokens minted from it fail at once.
    old_access = mint(adm.id, adm.secret)
    assert api("GET", "/v1/tokens", bearer_jwt(old_access)).status_code == 200
    regenerated = api("POST", f"/v1/tokens/{adm.id}/secret", actor)
    assert regenerated.status_code == 200, regenerated.text
    assert regenerated.headers.get("Cache-Control") == "no-store"
    body = regenerated.json()
    assert_token_shape(body, with_secret=True)
    assert body["id"] == adm.id and body["secret_generation"] == 2 and body["role"] == "Administrator"
    assert body["secret"] != adm.secret
    old, adm = adm, Cred(adm.id, body["secret"])
    assert_unauthorized(api("GET", "/v1/organization", basic(old.id, old.secret)))
    assert_unauthorized(api("GET", "/v1/organization", bearer_jwt(old_access)))
    assert_oauth_error(oauth({"grant_type": "client_credentials"}, basic(old.id, old.secret)), 401, "invalid_client")
    assert api("GET", "/v1/organization", basic(adm.id, adm.secret)).status_code == 200
    assert api("GET", "/v1/organization", bearer(adm.id, adm.secret, via="form")).status_code == 200

    # Delete: 204 and nothing; the secret and an access token minted before fail at once; then 404.
    access_before = mint(adm.id, adm.secret)
    assert api("GET", "/v1/tokens", bearer_jwt(access_before)).status_code == 200
    deleted = api("DELETE", f"/v1/tokens/{adm.id}", actor)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_unauthorized(api("GET", "/v1/organization", basic(adm.id, adm.secret)))
    assert_unauthorized(api("GET", "/v1/organization", bearer_jwt(access_before)))
    assert_oauth_error(oauth({"grant_type": "client_credentials"}, basic(adm.id, adm.secret)), 401, "invalid_client")
    assert_error(api("GET", f"/v1/tokens/{adm.id}", actor), 404, "not_found")
    assert adm.id not in {t["id"] for t in list_all(actor)}
    assert_error(api("DELETE", f"/v1/tokens/{adm.id}", actor), 404, "not_found")
    assert_error(api("PATCH", f"/v1/tokens/{adm.id}", actor, json={"name": "ghost"}), 404, "not_found")
    assert_error(api("POST", f"/v1/tokens/{adm.id}/secret", actor), 404, "not_found")
    # The other token and the actor are untouched.
    assert api("GET", "/v1/organization", basic(user.id, user.secret)).status_code == 200
    assert api("GET", "/v1/tokens", actor).status_code == 200


def test_secret_checksum_and_names(admin):
    """Secrets carry an offline-checkable checksum; names keep their edges (100 characters, Unicode)."""
    hundred = "n" * 100
    token = create_token(basic(admin.id, admin.secret), hundred, "User")
    assert token["name"] == hundred and checksum_ok(token["secret"])
    unicode_name = unique("Ünïcødé CI 🚀 ツール")
    token = create_token(basic(admin.id, admin.secret), unicode_name, "User")
    assert api("GET", f"/v1/tokens/{token['id']}", basic(admin.id, admin.secret)).json()["name"] == unicode_name


# =================================================================================================================
# 2. A role change takes effect at once, also for an access token minted before it
# =================================================================================================================


@pytest.mark.parametrize("via", ["basic", "form"])
def test_role_change_takes_effect_at_once(via, admin):
    boss = basic(admin.id, admin.secret)
    token = create_token(boss, unique("promotable"), "User")
    access = bearer(token["id"], token["secret"], via=via)

    assert_error(api("POST", "/v1/tokens", access, json={"name": "nope", "role": "User"}), 403, "forbidden")
    assert api("PATCH", f"/v1/tokens/{token['id']}", boss, json={"role": "Administrator"}).json()["role"] == "Administrator"
    created = api("POST", "/v1/tokens", access, json={"name": unique("made by promoted"), "role": "User"})
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == f"token:{token['id']}"

    assert api("PATCH", f"/v1/tokens/{token['id']}", boss, json={"role": "User"}).json()["role"] == "User"
    assert_error(api("POST", "/v1/tokens", access, json={"name": "nope", "role": "User"}), 403, "forbidden")
    assert_error(api("DELETE", f"/v1/tokens/{created.json()['id']}", access), 403, "forbidden")


# =================================================================================================================
# 3. User tokens may read, never change
# =================================================================================================================


@pytest.mark.parametrize("auth_path", ["basic", "bearer"])
def test_user_token_is_read_only(auth_path, admin, org_id):
    boss = basic(admin.id, admin.secret)
    user_token = create_token(boss, unique("reader"), "User")
    target = create_token(boss, unique("target"), "User")
    user = auth_for(auth_path, Cred(user_token["id"], user_token["secret"]))
    before = snapshot(boss)

    refused = [
        ("POST", "/v1/tokens", {"name": "escalate", "role": "Administrator"}),
        ("POST", "/v1/tokens", {"name": "plain", "role": "User"}),
        ("PATCH", f"/v1/tokens/{target['id']}", {"name": "hijacked"}),
        ("PATCH", f"/v1/tokens/{user_token['id']}", {"role": "Administrator"}),  # promoting itself
        ("POST", f"/v1/tokens/{target['id']}/secret", None),
        ("POST", f"/v1/tokens/{user_token['id']}/secret", None),
        ("DELETE", f"/v1/tokens/{target['id']}", None),
        ("DELETE", f"/v1/tokens/{user_token['id']}", None),
        ("GET", "/v1/audit-events", None),
    ]
    for method, path, body in refused:
        response = api(method, path, user, json=body) if body is not None else api(method, path, user)
        assert_error(response, 403, "forbidden")
        assert not SECRET_SHAPE.search(response.content)

    assert snapshot(boss) == before, "a refused change changed something"
    assert api("GET", "/v1/organization", basic(target["id"], target["secret"])).status_code == 200

    listed = api("GET", "/v1/tokens", user)
    assert listed.status_code == 200 and user_token["id"] in {t["id"] for t in listed.json()["items"]}
    assert_no_secret_material(listed.text, user_token["secret"], target["secret"], admin.secret)
    got = api("GET", f"/v1/tokens/{target['id']}", user)
    assert got.status_code == 200 and got.json()["name"] == target["name"]
    assert_no_secret_material(got.text, target["secret"])
    organization = api("GET", "/v1/organization", user)
    assert organization.status_code == 200 and organization.json()["id"] == org_id
    assert isinstance(organization.json()["token_count"], int) and organization.json()["token_count"] >= 3


# =================================================================================================================
# 4. Organizations are isolated: another organization's tokens do not exist for you
# =================================================================================================================


@pytest.mark.parametrize("auth_path", ["basic", "bearer"])
def test_other_organization_is_invisible(auth_path, admin, org_id, other_org):
    other_org_id, other_admin = other_org
    assert other_org_id != org_id
    boss = basic(admin.id, admin.secret)
    victim = create_token(boss, unique("victim"), "Administrator")
    stranger = auth_for(auth_path, other_admin)
    before = snapshot(boss)

    organization = api("GET", "/v1/organization", stranger)
    assert organization.status_code == 200 and organization.json()["id"] == other_org_id

    missing = api("GET", f"/v1/tokens/{unknown_token_id()}", stranger)
    for method, path, body in [
        ("GET", f"/v1/tokens/{victim['id']}", None),
        ("PATCH", f"/v1/tokens/{victim['id']}", {"name": "stolen", "role": "User"}),
        ("POST", f"/v1/tokens/{victim['id']}/secret", None),
        ("DELETE", f"/v1/tokens/{victim['id']}", None),
    ]:
        response = api(method, path, stranger, json=body) if body is not None else api(method, path, stranger)
        assert_error(response, 404, "not_found")
        assert response.json() == missing.json(), "another organization's token must look exactly like none"

    theirs = list_all(stranger)
    assert victim["id"] not in {t["id"] for t in theirs} and admin.id not in {t["id"] for t in theirs}
    assert {t["organization_id"] for t in theirs} == {other_org_id}
    their_audit = audit_all(stranger)
    assert victim["id"] not in {e["target_id"] for e in their_audit}

    # Nothing changed in the first organization; the victim still works as it was.
    assert snapshot(boss) == before
    assert api("GET", "/v1/organization", basic(victim["id"], victim["secret"])).json()["id"] == org_id
    # And the other way round.
    assert_error(api("GET", f"/v1/tokens/{other_admin.id}", boss), 404, "not_found")
    assert other_admin.id not in {t["id"] for t in list_all(boss)}
    assert not any(e["actor"] == f"token:{other_admin.id}" for e in audit_all(boss))


# =================================================================================================================
# 5. Garbage in: a 4xx, never a 5xx, and nothing changed
# =================================================================================================================


@dataclass
class Ctx:
    admin: Cred
    victim: Cred

    @property
    def auth(self) -> dict:
        return basic(self.admin.id, self.admin.secret)


JSON = {"Content-Type": "application/json"}


class _chunked:
    """A body sent with `Transfer-Encoding: chunked` (no Content-Length), re-iterable for each request."""

    def __init__(self, body: bytes, size: int = 8192):
        self.body, self.size = body, size

    def __iter__(self):
        return (self.body[i:i + self.size] for i in range(0, len(self.body), self.size))


def _post_raw(body: bytes, headers=JSON):
    return lambda c: api("POST", "/v1/tokens", c.auth, data=body, headers=headers)


def _post(body):
    return lambda c: api("POST", "/v1/tokens", c.auth, json=body)


def _patch(body):
    return lambda c: api("PATCH", f"/v1/tokens/{c.victim.id}", c.auth, json=body)


def _patch_raw(body: bytes, headers=JSON):
    return lambda c: api("PATCH", f"/v1/tokens/{c.victim.id}", c.auth, data=body, headers=headers)


def _get(path, params=None):
    return lambda c: api("GET", path, c.auth, params=params)


def _as(header_value):
    """GET /v1/tokens with this Authorization header (a callable of the context, or a string)."""
    return lambda c: api("GET", "/v1/tokens", headers={"Authorization": header_value(c) if callable(header_value) else header_value})


def _jwt_parts(c: Ctx) -> list[str]:
    return mint(c.victim.id, c.victim.secret).split(".")


def _tampered_jwt(c: Ctx) -> str:
    """The victim's access token with `sub` changed to the admin's ID, signature kept."""
    header, payload, signature = _jwt_parts(c)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = c.admin.id
    return "Bearer " + ".".join([header, b64url(json.dumps(claims).encode()), signature])


def _unsigned_jwt(c: Ctx) -> str:
    _, payload, _ = _jwt_parts(c)
    return "Bearer " + ".".join([b64url(b'{"alg":"none","typ":"JWT"}'), payload, ""])


def _hs256_jwt(c: Ctx) -> str:
    _, payload, _ = _jwt_parts(c)
    head = b64url(b'{"alg":"HS256","typ":"JWT"}')
    signature = hmac.new(b"secret", f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return "Bearer " + ".".join([head, payload, b64url(signature)])


def _oauth(form=None, auth=None, headers=None, data=None):
    def call(c: Ctx):
        return oauth(form, auth(c) if callable(auth) else auth, headers=headers, data=data)
    return call


CC = {"grant_type": "client_credentials"}

# (id, request, status, error code (API) or RFC 6749 error (OAuth), field)
GARBAGE = [
    # Bodies of POST /v1/tokens
    ("malformed-json", _post_raw(b'{"name": "x", "role": "User"'), 400, "invalid_json", None),
    ("not-json", _post_raw(b"name=x&role=User"), 400, "invalid_json", None),
    ("empty-body", _post_raw(b""), 400, None, None),
    ("invalid-utf8", _post_raw(b'{"name": "\xff\xfe", "role": "User"}'), 400, None, None),
    ("json-array", _post([{"name": "x", "role": "User"}]), 400, None, None),
    ("json-string", _post("x"), 400, None, None),
    ("json-null", _post_raw(b"null"), 400, None, None),
    ("deep-nesting", _post_raw(b"[" * 20000 + b"]" * 20000), 400, None, None),
    ("name-number", _post({"name": 5, "role": "User"}), 400, "invalid_type", "name"),
    ("name-null", _post({"name": None, "role": "User"}), 400, "invalid_type", "name"),
    ("name-object", _post({"name": {"first": "x"}, "role": "User"}), 400, "invalid_type", "name"),
    ("role-number", _post({"name": "x", "role": 1}), 400, "invalid_type", "role"),
    ("role-list", _post({"name": "x", "role": ["Administrator"]}), 400, "invalid_type", "role"),
    ("role-unknown", _post({"name": "x", "role": "Owner"}), 422, "invalid_field", "role"),
    ("role-lowercase", _post({"name": "x", "role": "administrator"}), 422, "invalid_field", "role"),
    ("role-uppercase", _post({"name": "x", "role": "USER"}), 422, "invalid_field", "role"),
    ("role-padded", _post({"name": "x", "role": " User"}), 422, "invalid_field", "role"),
    ("role-empty", _post({"name": "x", "role": ""}), 422, "invalid_field", "role"),
    ("name-empty", _post({"name": "", "role": "User"}), 422, "invalid_field", "name"),
    ("name-whitespace", _post({"name": " \t\n\u00a0 ", "role": "User"}), 422, "invalid_field", "name"),
    ("name-101", _post({"name": "x" * 101, "role": "User"}), 422, "invalid_field", "name"),
    ("name-nul", _post({"name": "bad\u0000name", "role": "User"}), 422, "invalid_field", "name"),
    ("name-newline", _post({"name": "bad\nname", "role": "User"}), 422, "invalid_field", "name"),
    ("name-escape", _post({"name": "bad\u001b[31mname", "role": "User"}), 422, "invalid_field", "name"),
    ("name-del", _post({"name": "bad\u007fname", "role": "User"}), 422, "invalid_field", "name"),
    ("name-bidi", _post({"name": "bad\u202ename", "role": "User"}), 422, "invalid_field", "name"),
    ("name-line-separator", _post({"name": "bad\u2028name", "role": "User"}), 422, "invalid_field", "name"),
    ("unknown-field", _post({"name": "x", "role": "User", "admin": True}), 400, None, "admin"),
    ("set-secret", _post({"name": "x", "role": "User", "secret": "cfs_x"}), 400, None, "secret"),
    ("set-organization", _post({"name": "x", "role": "User", "organization_id": str(uuid.uuid4())}), 400, None, "organization_id"),
    ("missing-role", _post({"name": "x"}), 400, "missing_field", "role"),
    ("missing-name", _post({"role": "User"}), 400, "missing_field", "name"),
    ("empty-object", _post({}), 400, "missing_field", None),
    ("text-plain", _post_raw(b'{"name": "x", "role": "User"}', {"Content-Type": "text/plain"}), 415, "unsupported_media_type", None),
    ("no-content-type", _post_raw(b'{"name": "x", "role": "User"}', {}), 415, "unsupported_media_type", None),
    ("form-encoded", _post_raw(b"name=x&role=User", {"Content-Type": "application/x-www-form-urlencoded"}), 415, "unsupported_media_type", None),
    ("body-100kb", _post_raw(json.dumps({"name": "x" * 100_000, "role": "User"}).encode()), 413, "payload_too_large", None),
    ("body-100kb-chunked", _post_raw(_chunked(json.dumps({"name": "x" * 100_000, "role": "User"}).encode())), 413, "payload_too_large", None),
    # Bodies of PATCH /v1/tokens/{id}
    ("patch-empty-object", _patch({}), 400, "missing_field", None),
    ("patch-nulls", _patch({"name": None, "role": None}), 400, None, None),
    ("patch-role-lowercase", _patch({"role": "administrator"}), 422, "invalid_field", "role"),
    ("patch-good-name-bad-role", _patch({"name": "half applied?", "role": "Owner"}), 422, "invalid_field", "role"),
    ("patch-name-empty", _patch({"name": "  "}), 422, "invalid_field", "name"),
    ("patch-name-101", _patch({"name": "y" * 101}), 422, "invalid_field", "name"),
    ("patch-name-control", _patch({"name": "a\u0007b"}), 422, "invalid_field", "name"),
    ("patch-name-number", _patch({"name": 7}), 400, "invalid_type", "name"),
    ("patch-unknown-field", _patch({"name": "x", "secret_generation": 9}), 400, None, "secret_generation"),
    ("patch-json-array", _patch(["name"]), 400, None, None),
    ("patch-malformed", _patch_raw(b'{"name":'), 400, "invalid_json", None),
    ("patch-text-plain", _patch_raw(b'{"name": "x"}', {"Content-Type": "text/plain"}), 415, "unsupported_media_type", None),
    ("patch-100kb", _patch_raw(json.dumps({"name": "z" * 100_000}).encode()), 413, "payload_too_large", None),
    ("patch-100kb-chunked", _patch_raw(_chunked(json.dumps({"name": "z" * 100_000}).encode())), 413, "payload_too_large", None),
    # Token IDs in the path that are no token of this organization
    *[(f"bad-id-{label}-{method}-{suffix or 'token'}",
       (lambda m, i, s: lambda c: api(m, f"/v1/tokens/{i}{s}", c.auth, json={"name": "x"} if m == "PATCH" else _MISSING))(method, bad, suffix),
       404, "not_found", None)
      for label, bad in [("short", "abc"), ("21", "A" * 21), ("23", "A" * 23), ("dash", "abcdefghij-klmnopqrstu"),
                         ("nul", "abcdefghijklmnopqrstu%00"), ("unicode", "abcdefghijklmnopqrstü"),
                         ("unknown", "0000000000000000000000")]
      for method, suffix in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/secret")]],
    ("bad-id-traversal", _get("/v1/tokens/..%2F..%2Fhealthz"), 404, None, None),
    # Pagination parameters
    *[(f"limit-{label}", _get(path, {"limit": value}), 400, "invalid_field", "limit")
      for path in ("/v1/tokens", "/v1/audit-events")
      for label, value in [("0", "0"), ("201", "201"), ("abc", "abc"), ("negative", "-1"), ("empty", ""),
                           ("fraction", "1.5"), ("huge", "99999999999999999999999")]],
    *[(f"cursor-{label}", _get(path, {"cursor": value}), 400, "invalid_field", "cursor")
      for path in ("/v1/tokens", "/v1/audit-events")
      for label, value in [("symbols", "!!!"), ("empty", ""), ("garbage", b64url(b"garbage")), ("padded", "YWJj="),
                           ("zero", b64url(b"0")), ("bad-id", b64url(b"123:short")), ("bad-time", b64url(b"abc:0000000000000000000000"))]],
    # Authentication
    ("auth-none", lambda c: api("GET", "/v1/tokens"), 401, "unauthorized", None),
    ("auth-basic-not-base64", _as("Basic !!!not-base64!!!"), 401, "unauthorized", None),
    ("auth-basic-no-colon", _as("Basic " + b64("justonestring")), 401, "unauthorized", None),
    ("auth-basic-empty", _as("Basic "), 401, "unauthorized", None),
    ("auth-basic-binary", _as("Basic " + b64(b"\xff\xfe\x00:\x01")), 401, "unauthorized", None),
    ("auth-basic-no-secret", _as(lambda c: "Basic " + b64(c.admin.id + ":")), 401, "unauthorized", None),
    ("auth-basic-no-id", _as(lambda c: "Basic " + b64(":" + c.admin.secret)), 401, "unauthorized", None),
    ("auth-basic-bad-checksum", _as(lambda c: basic(c.admin.id, bad_checksum(c.admin.secret))["Authorization"]), 401, "unauthorized", None),
    ("auth-basic-wrong-secret", _as(lambda c: basic(c.admin.id, well_formed_wrong_secret())["Authorization"]), 401, "unauthorized", None),
    ("auth-basic-other-tokens-secret", _as(lambda c: basic(c.admin.id, c.victim.secret)["Authorization"]), 401, "unauthorized", None),
    ("auth-basic-unknown-id", _as(lambda c: basic(unknown_token_id(), c.admin.secret)["Authorization"]), 401, "unauthorized", None),
    ("auth-basic-lowercased-id", _as(lambda c: basic(c.admin.id.lower() if c.admin.id.lower() != c.admin.id else c.admin.id.upper(), c.admin.secret)["Authorization"]), 401, "unauthorized", None),
    ("auth-basic-secret-truncated", _as(lambda c: basic(c.admin.id, c.admin.secret[:-1])["Authorization"]), 401, "unauthorized", None),
    ("auth-bearer-garbage", _as("Bearer garbage"), 401, "unauthorized", None),
    ("auth-bearer-three-dots", _as("Bearer a.b.c"), 401, "unauthorized", None),
    ("auth-bearer-empty", _as("Bearer "), 401, "unauthorized", None),
    ("auth-bearer-huge", _as("Bearer " + "a." * 3000 + "a"), 401, "unauthorized", None),
    ("auth-bearer-secret", _as(lambda c: "Bearer " + c.admin.secret), 401, "unauthorized", None),
    ("auth-bearer-tampered-sub", _as(_tampered_jwt), 401, "unauthorized", None),
    ("auth-bearer-alg-none", _as(_unsigned_jwt), 401, "unauthorized", None),
    ("auth-bearer-hs256", _as(_hs256_jwt), 401, "unauthorized", None),
    ("auth-unknown-scheme", _as(lambda c: "Token " + c.admin.secret), 401, "unauthorized", None),
    # OAuth 2.0 token endpoint (RFC 6749 §5.2 error codes)
    ("oauth-wrong-grant", _oauth({"grant_type": "password"}, lambda c: basic(c.admin.id, c.admin.secret)), 400, "unsupported_grant_type", None),
    ("oauth-missing-grant", _oauth({"scope": "x"}, lambda c: basic(c.admin.id, c.admin.secret)), 400, "invalid_request", None),
    ("oauth-empty-body", _oauth(data=b"", headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=lambda c: basic(c.admin.id, c.admin.secret)), 400, "invalid_request", None),
    ("oauth-json", _oauth(data=json.dumps(CC).encode(), headers=JSON, auth=lambda c: basic(c.admin.id, c.admin.secret)), 400, "invalid_request", None),
    ("oauth-no-content-type", _oauth(data=b"grant_type=client_credentials", headers={"Content-Type": ""}, auth=lambda c: basic(c.admin.id, c.admin.secret)), 400, "invalid_request", None),
    ("oauth-wrong-secret", _oauth(CC, lambda c: basic(c.admin.id, well_formed_wrong_secret())), 401, "invalid_client", None),
    ("oauth-wrong-secret-form", lambda c: oauth({**CC, "client_id": c.admin.id, "client_secret": well_formed_wrong_secret()}), 401, "invalid_client", None),
    ("oauth-bad-checksum", _oauth(CC, lambda c: basic(c.admin.id, bad_checksum(c.admin.secret))), 401, "invalid_client", None),
    ("oauth-unknown-client", _oauth(CC, lambda c: basic(unknown_token_id(), c.admin.secret)), 401, "invalid_client", None),
    ("oauth-no-client", _oauth(CC), 401, "invalid_client", None),
    ("oauth-id-without-secret", lambda c: oauth({**CC, "client_id": c.admin.id}), 401, "invalid_client", None),
    ("oauth-garbage-basic", _oauth(CC, {"Authorization": "Basic !!!"}), 401, "invalid_client", None),
    ("oauth-two-methods", lambda c: oauth({**CC, "client_secret": c.admin.secret}, basic(c.admin.id, c.admin.secret)), 400, "invalid_request", None),
    ("oauth-100kb", _oauth({**CC, "scope": "s" * 100_000}, lambda c: basic(c.admin.id, c.admin.secret)), 413, None, None),
    ("oauth-100kb-chunked", _oauth(data=_chunked(b"grant_type=client_credentials&scope=" + b"s" * 100_000),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"},
                                   auth=lambda c: basic(c.admin.id, c.admin.secret)), 413, None, None),
    # Routes and methods
    ("unknown-route", _get("/v1/nothing"), 404, None, None),
    # Hummingbird's router answers an unrouted method with 404, not 405 (APIError's 405 mapping is never reached).
    ("method-not-routed", lambda c: api("PUT", "/v1/tokens", c.auth, json={"name": "x", "role": "User"}), 404, "not_found", None),
]


@pytest.fixture(scope="session")
def garbage_ctx(admin: Cred, server) -> Ctx:
    _BASE["url"] = server.url
    victim = create_token(basic(admin.id, admin.secret), "garbage victim", "User")
    return Ctx(admin, Cred(victim["id"], victim["secret"]))


@pytest.mark.parametrize("request_, status, code, field", [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_is_refused_and_changes_nothing(request_, status, code, field, garbage_ctx):
    before = snapshot(garbage_ctx.auth)
    response = request_(garbage_ctx)
    is_oauth = response.url.endswith("/v1/auth/token") and status != 413
    if is_oauth:
        assert_oauth_error(response, status, code)
    elif status == 401:
        assert_unauthorized(response)
    else:
        assert_error(response, status, code, field)
    assert not SECRET_SHAPE.search(response.content), "an error answer carries something secret-shaped"
    assert snapshot(garbage_ctx.auth) == before, "refused input changed the tokens or the audit trail"
    # The victim is intact and usable.
    assert api("GET", "/v1/organization", basic(garbage_ctx.victim.id, garbage_ctx.victim.secret)).status_code == 200


# =================================================================================================================
# 6. Pagination: every token exactly once
# =================================================================================================================


def test_pagination_walks_every_token_once(server: ServerProcess):
    # An organization of its own, so the expected set is exact.
    org = server.admin("create-organization", "--name", "E2E Pagination Org")
    first = server.admin("create-token", "--name", "pager admin", "--role", "Administrator",
                         "--organization", org["organization_id"])
    auth = basic(first["id"], first["secret"])
    in_creation_order = [first["id"]] + [create_token(auth, f"page token {i}", ("User", "Administrator")[i % 2])["id"]
                                         for i in range(7)]
    expected = set(in_creation_order)
    assert len(expected) == 8

    everything = api("GET", "/v1/tokens", auth, params={"limit": 200}).json()
    assert everything["next_cursor"] is None
    assert [t["id"] for t in everything["items"]] == in_creation_order, "tokens are listed oldest first"
    for limit in (2, 3, 1):
        seen, cursor, pages = [], None, []
        while True:
            params = {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
            page = api("GET", "/v1/tokens", auth, params=params)
            assert page.status_code == 200, page.text
            page = page.json()
            pages.append(len(page["items"]))
            seen += [t["id"] for t in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert isinstance(cursor, str) and cursor
            assert len(pages) <= 8, "pagination does not end"
        assert len(seen) == len(set(seen)) == 8, f"limit={limit}: duplicates or gaps: {seen}"
        assert set(seen) == expected
        assert seen == [t["id"] for t in everything["items"]], "pages follow the one-page order"
        assert pages == [limit] * (8 // limit) + ([8 % limit] if 8 % limit else []), f"limit={limit}: page sizes {pages}"

    # A cursor from the token list is no audit cursor, and no other organization sees these tokens.
    cursor = api("GET", "/v1/tokens", auth, params={"limit": 2}).json()["next_cursor"]
    assert_error(api("GET", "/v1/audit-events", auth, params={"cursor": cursor}), 400, "invalid_field", "cursor")


# =================================================================================================================
# 7. Audit trail
# =================================================================================================================


def test_audit_trail_records_every_change(admin):
    boss = basic(admin.id, admin.secret)
    auditor = create_token(boss, unique("audited admin"), "Administrator")
    actor = basic(auditor["id"], auditor["secret"])

    request_ids = {}
    created = api("POST", "/v1/tokens", actor, json={"name": "audited", "role": "User"})
    assert created.status_code == 201
    token_id = created.json()["id"]
    request_ids["token.create"] = created.headers["X-Request-ID"]
    updated = api("PATCH", f"/v1/tokens/{token_id}", actor, json={"name": "audited renamed", "role": "Administrator"})
    assert updated.status_code == 200
    request_ids["token.update"] = updated.headers["X-Request-ID"]
    regenerated = api("POST", f"/v1/tokens/{token_id}/secret", actor)
    assert regenerated.status_code == 200
    request_ids["token.regenerate"] = regenerated.headers["X-Request-ID"]
    deleted = api("DELETE", f"/v1/tokens/{token_id}", bearer(auditor["id"], auditor["secret"]))
    assert deleted.status_code == 204
    request_ids["token.delete"] = deleted.headers["X-Request-ID"]

    events = audit_all(boss)
    for event in events:
        assert set(event) == AUDIT_FIELDS, sorted(event)
    mine = [e for e in events if e["target_id"] == token_id]
    # Newest first.
    assert [e["action"] for e in mine] == ["token.delete", "token.regenerate", "token.update", "token.create"], mine
    assert len(set(request_ids.values())) == 4
    for event in mine:
        assert event["actor"] == f"token:{auditor['id']}"
        assert event["target_type"] == "token"
        assert event["source_ip"] == "127.0.0.1"
        assert event["request_id"] == request_ids[event["action"]]
        assert event["outcome"] == "success"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", event["occurred_at"])
    details = {e["action"]: e["details"] for e in mine}
    assert details["token.create"] == {"name": "audited", "role": "User"}
    assert details["token.update"] == {"name": "audited renamed", "role": "Administrator"}
    # Who created the auditor is recorded too; the organization's creation at bootstrap as well.
    assert any(e["action"] == "token.create" and e["target_id"] == auditor["id"] and e["actor"] == f"token:{admin.id}"
               for e in events)
    assert any(e["action"] == "organization.create" for e in events)

    # No audit event carries a secret seen anywhere in this run (checked on the raw bytes of every page).
    assert len(Seen.secrets) >= 4
    raw, cursor = b"", None
    while True:
        page = api("GET", "/v1/audit-events", boss, params={"limit": 200, **({"cursor": cursor} if cursor else {})})
        raw += page.content
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert not find_leaks(raw, "audit events")

    # Pages of the audit trail join up: limit=1 walks the same events in the same order.
    walked, cursor = [], None
    for _ in range(len(events) + 1):
        params = {"limit": 1} if cursor is None else {"limit": 1, "cursor": cursor}
        page = api("GET", "/v1/audit-events", boss, params=params).json()
        assert len(page["items"]) <= 1
        walked += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == [e["id"] for e in events]


# =================================================================================================================
# The admin CLI (used above to make organizations) exits cleanly
# =================================================================================================================


def test_admin_cli_exits_cleanly(server: ServerProcess):
    """The admin commands close the database and exit 0 (they once died with SIGILL on a debug assertion)."""
    org = run_admin_raw(server.binary, server.data_dir, "create-organization", "--name", "E2E CLI Org")
    assert org.returncode == 0, f"create-organization exited {org.returncode}: {org.stderr[:300]}"
    token = run_admin_raw(server.binary, server.data_dir, "create-token", "--name", "cli", "--role", "User",
                          "--organization", org.json["organization_id"])
    assert token.returncode == 0, f"create-token exited {token.returncode}: {token.stderr[:300]}"
    assert token.json["organization_id"] == org.json["organization_id"] and token.json["role"] == "User"
    assert SECRET_RE.match(token.json["secret"]) and checksum_ok(token.json["secret"])
    assert api("GET", "/v1/organization", basic(token.json["id"], token.json["secret"])).json()["id"] == org.json["organization_id"]
    bad = run_admin_raw(server.binary, server.data_dir, "create-token", "--name", "x", "--role", "Owner",
                        "--organization", org.json["organization_id"])
    assert bad.returncode != 0 and bad.json is None, "an invalid role is refused"


# =================================================================================================================
# 9. Restart keeps state; graceful shutdown
# =================================================================================================================


def test_configured_by_environment_alone_and_stops_on_sigint(server_binary: Path, tmp_path: Path):
    """`serve` takes every setting from CLOUDFLEET_* variables, and SIGINT (Ctrl-C) stops it gracefully."""
    import signal
    import subprocess
    import time

    port = free_port()
    env = clean_env(CLOUDFLEET_HOST="127.0.0.1", CLOUDFLEET_PORT=str(port), CLOUDFLEET_DATA_DIR=str(tmp_path / "data"),
                    CLOUDFLEET_PUBLIC_URL="https://api.example.test", CLOUDFLEET_ACCESS_TOKEN_LIFETIME="120",
                    CLOUDFLEET_LOG_LEVEL="warning")
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen([str(server_binary)], stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, err.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        banner = parse_banner(out.read_text())
        assert banner is not None and (tmp_path / "data" / "cloudfleet.sqlite").exists()
        Seen.secret(banner.secret)
        grant = requests.post(f"http://127.0.0.1:{port}/v1/auth/token", auth=(banner.token_id, banner.secret),
                              data={"grant_type": "client_credentials"}, timeout=10).json()
        Seen.access_token(grant["access_token"])
        assert grant["expires_in"] == 120
        payload = grant["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["iss"] == "https://api.example.test"
        assert "request" not in err.read_text(), "info lines are silenced at log level warning"
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
    assert code == 0


def test_restart_keeps_state_and_shutdown_is_graceful(pristine_server: ServerProcess):
    server = pristine_server
    banner = server.start()
    assert banner is not None, "first start on an empty data dir prints the bootstrap banner"
    assert TOKEN_ID_RE.match(banner.token_id) and SECRET_RE.match(banner.secret) and checksum_ok(banner.secret)
    uuid.UUID(banner.organization_id)
    base = server.url
    boss = basic(banner.token_id, banner.secret)
    user = create_token(boss, "survives restart", "User", base=base)
    adm = create_token(boss, "admin survives restart", "Administrator", base=base)
    gone = create_token(boss, "deleted before restart", "User", base=base)
    assert api("DELETE", f"/v1/tokens/{gone['id']}", boss, base=base).status_code == 204
    access = mint(adm["id"], adm["secret"], base=base)
    # Failed attempts with real secrets, so that the debug log has had the chance to leak them.
    assert_unauthorized(api("GET", "/v1/tokens", basic(gone["id"], gone["secret"]), base=base))
    assert_oauth_error(oauth(CC, basic(gone["id"], gone["secret"]), base=base), 401, "invalid_client")
    assert_unauthorized(api("GET", "/v1/tokens", basic(user["id"], adm["secret"]), base=base))
    tokens_before = sorted((t["id"], t["name"], t["role"], t["secret_generation"]) for t in list_all(boss, base=base))
    audit_before = audit_all(boss, base=base)

    # Graceful shutdown: SIGTERM with an idle keep-alive connection open; exit 0 within the deadline.
    with requests.Session() as keep_alive:
        assert keep_alive.get(base + "/healthz", timeout=5).status_code == 200
        assert server.stop() == 0, f"SIGTERM did not end the server cleanly:\n{server.stderr_text()[-3000:]}"
    assert "unhandled error" not in server.stderr_text()

    # Restart on the same data dir: no new bootstrap, same organization, every credential still works.
    assert server.start() is None, "a restart must not bootstrap again"
    assert "cfs_" not in server.stdout_paths[-1].read_text(), "a restart prints no secret"
    assert server.url == base
    assert api("GET", "/v1/organization", boss, base=base).json()["id"] == banner.organization_id
    for cred in (Cred(banner.token_id, banner.secret), Cred(user["id"], user["secret"]), Cred(adm["id"], adm["secret"])):
        assert api("GET", "/v1/tokens", basic(cred.id, cred.secret), base=base).status_code == 200
        assert api("GET", "/v1/tokens", bearer(cred.id, cred.secret, base=base), base=base).status_code == 200
    assert api("GET", "/v1/tokens", bearer_jwt(access), base=base).status_code == 200, \
        "an access token minted before the restart is still valid (its signing key is persisted)"
    assert_unauthorized(api("GET", "/v1/tokens", basic(gone["id"], gone["secret"]), base=base))
    assert_error(api("POST", "/v1/tokens", basic(user["id"], user["secret"]), base=base,
                     json={"name": "x", "role": "User"}), 403, "forbidden")
    assert sorted((t["id"], t["name"], t["role"], t["secret_generation"]) for t in list_all(boss, base=base)) == tokens_before
    assert audit_all(boss, base=base) == audit_before, "the audit trail survives the restart unchanged"

    # The data directory is private, and nothing secret is at rest or in the (debug-level) log.
    data_while_running = data_files(server.data_dir)
    assert server.stop() == 0
    _assert_private_and_clean(server, data_while_running)


def _assert_private_and_clean(server: ServerProcess, data_while_running: dict[str, bytes]) -> None:
    data_dir = server.data_dir
    assert mode(data_dir) & 0o077 == 0, f"data dir mode {oct(mode(data_dir))}"
    assert mode(data_dir / "cloudfleet.sqlite") == 0o600, oct(mode(data_dir / "cloudfleet.sqlite"))
    assert mode(data_dir / "server.key") == 0o600, oct(mode(data_dir / "server.key"))
    for path in data_dir.iterdir():
        assert mode(path) & 0o077 == 0, f"{path.name} is readable by others: {oct(mode(path))}"
    files = data_files(data_dir)
    assert "cloudfleet.sqlite" in files and "server.key" in files
    assert len(files["server.key"]) == 32
    leaks = []
    for name, blob in {**{f"{k} (while running)": v for k, v in data_while_running.items()}, **files}.items():
        leaks += find_leaks(blob, name)
    for path in server.stderr_paths:
        leaks += find_leaks(path.read_bytes(), f"stderr log {path.name}")
    assert not leaks, "secrets found at rest or in logs:\n" + "\n".join(leaks)
    assert any("-wal" in name for name in data_while_running), "the WAL was inspected while running"


# =================================================================================================================
# 8. No secret at rest or in logs (the session server, after everything above; stops and restarts it)
# =================================================================================================================


def test_no_secret_at_rest_or_in_logs(server: ServerProcess, admin):
    boss = basic(admin.id, admin.secret)
    # A little lifecycle of its own, so this test means something also when run alone.
    token = create_token(boss, unique("at rest"), "Administrator")
    mint(token["id"], token["secret"], via="form")
    fresh = api("POST", f"/v1/tokens/{token['id']}/secret", bearer(admin.id, admin.secret)).json()["secret"]
    mint(token["id"], fresh)
    assert_unauthorized(api("GET", "/v1/tokens", basic(token["id"], token["secret"])))
    assert api("DELETE", f"/v1/tokens/{token['id']}", boss).status_code == 204
    assert_unauthorized(api("GET", "/v1/tokens", basic(token["id"], fresh)))
    assert {admin.secret, token["secret"], fresh} <= Seen.secrets

    data_while_running = data_files(server.data_dir)
    assert server.stop() == 0, f"SIGTERM did not end the server cleanly:\n{server.stderr_text()[-3000:]}"
    try:
        _assert_private_and_clean(server, data_while_running)
    finally:
        # Leave the session server running for anything after this test.
        assert server.start() is None, "a restart must not bootstrap again"
    assert api("GET", "/v1/tokens", boss).status_code == 200


def test_a_pinned_server_runs_one_event_loop_per_allowed_cpu(server_binary, tmp_path):
    """NIO sizes its event loops by the machine's CPUs, not by the process's affinity; `serve` counts the CPUs it may
    run on. Pinned to one CPU (here with `taskset`, which execs the server under the same PID), it runs one loop:
    two on one core preempted each other and the handlers (docs/decisions.md)."""
    server = ServerProcess(server_binary, tmp_path / "pinned", wrapper=["taskset", "-c", "0"])
    server.start()
    try:
        tasks = Path(f"/proc/{server.process.pid}/task")
        names = [(task / "comm").read_text().strip() for task in tasks.iterdir()]
        loops = [name for name in names if name.startswith("NIO-SGLTN")]
        assert len(loops) == 1, names
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    finally:
        server.stop()
