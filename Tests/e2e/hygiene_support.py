"""Helpers of the token-hygiene end-to-end suite (`test_hygiene_e2e.py`).

HTTP calls checked against the OpenAPI document (every response, as in `test_server_e2e.py`), the `cloudfleet` CLI
run as a process with a configuration directory of its own, pipelines calling the API from a background thread,
Prometheus text, polling with a deadline, and the search for secrets in logs and files.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TypeVar

import requests

import openapi_contract
from conftest import BASE62, CliRun as Run, CliRunner, Seen, ServerProcess, base62, clean_env, record_issued as record

T = TypeVar("T")
_MISSING = object()

TOKEN_ID_RE = re.compile(r"^[0-9A-Za-z]{22}$")
SECRET_RE = re.compile(r"^cfs_[0-9A-Za-z]{46}$")
# A token secret or service credential, or a piece of one, anywhere.
SECRET_SHAPE = re.compile(rb"cfs(?:vc)?_[0-9A-Za-z]{8,}")
SERVICE_CREDENTIAL_RE = re.compile(r"^cfsvc_[0-9A-Za-z]{46}$")


# =================================================================================================================
# Time
# =================================================================================================================


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339(moment: datetime) -> str:
    """Whole seconds, `Z`: what the API answers and what the CLI's `--expires-at` takes."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def poll(what: str, probe: Callable[[], T], *, deadline: float = 15.0, interval: float = 0.1) -> T:
    """`probe()` until it answers something truthy; fails after `deadline` seconds with its last answer."""
    end = time.monotonic() + deadline
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {deadline:g} s (last: {result!r})")
        time.sleep(interval)


# =================================================================================================================
# Credentials
# =================================================================================================================


@dataclass(frozen=True)
class Cred:
    """An API token's ID and secret."""

    id: str
    secret: str


def basic(token_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{token_id}:{secret}".encode()).decode()}


def auth(cred: Cred) -> dict:
    return basic(cred.id, cred.secret)


def bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


def well_formed_wrong_service_credential() -> str:
    """A string shaped like a service credential (`cfsvc_`, 40 random characters, a base62 CRC-32) that no service
    holds."""
    body = "cfsvc_" + "".join(BASE62[b % 62] for b in os.urandom(40))
    return body + base62(zlib.crc32(body.encode()), 6)


# =================================================================================================================
# HTTP, checked against the OpenAPI document
# =================================================================================================================


def api(base: str, method: str, path: str, headers: dict | None = None, *, json=_MISSING, data=None,
        params=None, timeout: float = 15, session: requests.Session | None = None) -> requests.Response:
    """One request to the server at `base`. Fails on any 5xx and on any answer the OpenAPI document does not
    promise, and records every secret and access token an answer carries (for the log and at-rest checks)."""
    kwargs = {"headers": dict(headers or {}), "params": params, "timeout": timeout}
    if json is not _MISSING:
        kwargs["json"] = json
    if data is not None:
        kwargs["data"] = data
    response = (session or requests).request(method, base + path, **kwargs)
    assert response.status_code < 500, f"{method} {path} answered {response.status_code}: {response.text[:500]}"
    openapi_contract.check(method, path, response)
    record(response)
    return response


def error_of(response: requests.Response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The `/v1` error form `{"error": {"code", "message", "field"?}}` with this status (and code and field)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("message"), str) and error["message"], body
    if code is not None:
        assert error.get("code") == code, body
    if field is not None:
        assert error.get("field") == field, body
    return error


def oauth_error_of(response: requests.Response, status: int, error: str) -> str:
    """RFC 6749 §5.2 `{"error", "error_description"}` with this status; answers the description."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body.get("error") == error, body
    assert response.headers.get("Cache-Control") == "no-store", response.headers
    return body.get("error_description", "")


def mint(base: str, cred: Cred) -> str:
    """An access token from `POST /v1/auth/token` for `cred` (client credentials by HTTP Basic)."""
    response = exchange(base, cred)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def exchange(base: str, cred: Cred, *, form: bool = False) -> requests.Response:
    """`POST /v1/auth/token` with `cred`, by HTTP Basic or (`form`) by form fields."""
    data = {"grant_type": "client_credentials"}
    if form:
        data.update(client_id=cred.id, client_secret=cred.secret)
        return api(base, "POST", "/v1/auth/token", data=data)
    return api(base, "POST", "/v1/auth/token", auth(cred), data=data)


def create_token(base: str, actor: dict, name: str, role: str = "User", **fields) -> dict:
    """`POST /v1/tokens`; answers the token with its secret (`Cred` in `["cred"]`)."""
    response = api(base, "POST", "/v1/tokens", actor, json={"name": name, "role": role, **fields})
    assert response.status_code == 201, response.text
    token = response.json()
    assert SECRET_RE.match(token["secret"]), token
    token["cred"] = Cred(token["id"], token["secret"])
    return token


def describe(base: str, actor: dict, token_id: str) -> dict:
    response = api(base, "GET", f"/v1/tokens/{token_id}", actor)
    assert response.status_code == 200, response.text
    return response.json()


def list_tokens(base: str, actor: dict, **params) -> list[dict]:
    """Every token of the actor's organization that passes the filters in `params`, walking `next_cursor`."""
    return walk(base, "/v1/tokens", actor, **params)


def walk(base: str, path: str, actor: dict, **params) -> list[dict]:
    items, cursor = [], None
    for _ in range(1000):
        page_params = {"limit": 200, **params}
        if cursor is not None:
            page_params["cursor"] = cursor
        response = api(base, "GET", path, actor, params=page_params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path} never ended")


def audit_events(base: str, actor: dict, **params) -> list[dict]:
    """Audit events (newest first) that pass the filters in `params`, such as `action` and `token`."""
    return walk(base, "/v1/audit-events", actor, **params)


def ids(tokens: list[dict]) -> set[str]:
    return {token["id"] for token in tokens}


def authenticates(base: str, cred_or_headers) -> int:
    """The status `GET /v1/organization` answers to a credential (a `Cred` or ready headers)."""
    headers = auth(cred_or_headers) if isinstance(cred_or_headers, Cred) else cred_or_headers
    return api(base, "GET", "/v1/organization", headers).status_code


# =================================================================================================================
# Server administration
# =================================================================================================================


def admin_json(server: ServerProcess, *args: str) -> dict:
    """`cloudfleet-server admin … --output json` against the server's store (its data directory, or the database
    and server key it was started with), as an operator on the host would run it."""
    command = [str(server.binary), "admin", *args, "--output", "json", "--data-dir", str(server.data_dir)]
    if "--database-url" in server.extra_args:
        command += ["--database-url", server.extra_args[server.extra_args.index("--database-url") + 1]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env=clean_env(SWIFT_BACKTRACE="enable=no", **server.extra_env))
    try:
        parsed = json.loads(done.stdout)
    except ValueError:
        parsed = None
    assert done.returncode == 0 and isinstance(parsed, dict), \
        f"admin {args} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    if isinstance(parsed.get("secret"), str):
        Seen.secret(parsed["secret"])
    if isinstance(parsed.get("credential"), str):
        Seen.service_credential(parsed["credential"])
    return parsed


def service_credential(server: ServerProcess, kind: str, name: str) -> str:
    created = admin_json(server, "create-service-credential", "--kind", kind, "--name", name)
    assert created["kind"] == kind and created["name"] == name, created
    assert SERVICE_CREDENTIAL_RE.match(created["credential"]), "a service credential is cfsvc_ and 46 characters"
    return created["credential"]


def fresh_organization(server: ServerProcess, name: str) -> tuple[str, Cred]:
    """A new organization with an Administrator token of its own, so a test can count its tokens exactly."""
    org = admin_json(server, "create-organization", "--name", name)
    token = admin_json(server, "create-token", "--name", f"{name} admin", "--role", "Administrator",
                       "--organization", org["organization_id"])
    return org["organization_id"], Cred(token["id"], token["secret"])


# =================================================================================================================
# The CLI
# =================================================================================================================


class Cli(CliRunner):
    """The `cloudfleet` binary with a configuration directory and HOME of its own."""

    def add_profile(self, name: str, organization_id: str, cred: Cred, api_url: str) -> Run:
        return self("auth", "add-profile", "token", name, organization_id, cred.id, "--api-url", api_url,
                    "--secret-stdin", input=cred.secret)

    @staticmethod
    def env_for(organization_id: str, cred: Cred, api_url: str) -> dict[str, str]:
        """The CI way: credentials in `CLOUDFLEET_*` variables, no profile."""
        return {"CLOUDFLEET_ORGANIZATION_ID": organization_id, "CLOUDFLEET_TOKEN_ID": cred.id,
                "CLOUDFLEET_TOKEN_SECRET": cred.secret, "CLOUDFLEET_API_URL": api_url}


def cli_error(run: Run, code: int, *fragments: str) -> str:
    """Exit `code`, nothing on stdout, one `error:` line on stderr holding every fragment (case-insensitive)."""
    assert run.returncode == code, f"expected exit {code}:\n{run}"
    assert run.stdout == "", f"an error prints nothing on stdout:\n{run}"
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"an error is one line starting 'error:':\n{run}"
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), f"{fragment!r} is not in the error:\n{run}"
    return lines[0]


def assert_no_secret_in(run: Run, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in run.output and secret[4:44] not in run.output, f"a secret appears in the output:\n{run}"


class ConnectionCounter:
    """A local listener that counts the connections made to it (and closes each at once): proves a command made
    no network call when pointed at it."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.socket.close()
        self.thread.join(timeout=5)


# =================================================================================================================
# A pipeline: the API called in a loop from a background thread
# =================================================================================================================


@dataclass
class Answer:
    at: float  # time.monotonic() when the answer came
    status: int  # -1: the request itself failed
    detail: str
    credential: str  # which credential the call used ("old", "new", …)


class Pipeline:
    """A deployment that calls `GET /v1/organization` continuously with one credential (HTTP Basic headers or a
    Bearer access token), on a keep-alive connection, recording every answer. `switch()` changes the credential
    as a redeployment would."""

    def __init__(self, base: str, headers: dict, label: str):
        self.base = base
        self._headers = headers
        self._label = label
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.answers: list[Answer] = []
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"pipeline {label}")

    def start(self) -> "Pipeline":
        self.thread.start()
        return self

    def switch(self, headers: dict, label: str) -> None:
        with self._lock:
            self._headers, self._label = headers, label

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                with self._lock:
                    headers, label = self._headers, self._label
                try:
                    response = session.get(self.base + "/v1/organization", headers=headers, timeout=10)
                    answer = Answer(time.monotonic(), response.status_code, response.text[:200], label)
                except requests.RequestException as error:
                    answer = Answer(time.monotonic(), -1, repr(error), label)
                self.answers.append(answer)
                time.sleep(0.01)

    def count(self, label: str | None = None, after: float = 0.0) -> int:
        return sum(1 for a in list(self.answers) if a.at > after and (label is None or a.credential == label))

    def wait_for(self, n: int, *, label: str | None = None, after: float = 0.0, deadline: float = 20.0) -> None:
        poll(f"{n} answers to the pipeline", lambda: self.count(label, after) >= n, deadline=deadline, interval=0.02)

    def failures(self) -> list[Answer]:
        return [a for a in list(self.answers) if a.status != 200]

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the pipeline thread did not stop"


# =================================================================================================================
# Prometheus text
# =================================================================================================================

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Metrics:
    text: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> "Metrics":
        metrics = cls(text)
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            match = SAMPLE.match(line)
            assert match, f"not a Prometheus sample line: {line!r}"
            labels = dict(LABEL.findall(match.group(2) or ""))
            metrics.samples.append((match.group(1), labels, float(match.group(3))))
        return metrics

    def value(self, name: str, **labels: str) -> float:
        """The one sample of `name` with exactly these labels (0 when there is none)."""
        found = [v for n, l, v in self.samples if n == name and l == labels]
        assert len(found) <= 1, f"{name}{labels} appears {len(found)} times"
        return found[0] if found else 0.0

    def series(self, name: str) -> list[dict[str, str]]:
        return [labels for n, labels, _ in self.samples if n == name]


# =================================================================================================================
# Secrets in logs and files
# =================================================================================================================


def strip_banner(stdout: str) -> str:
    """Standard output without the first start's bootstrap banner (the one place a secret is meant to appear)."""
    lines = stdout.splitlines(keepends=True)
    rules = [i for i, line in enumerate(lines) if line.strip() and set(line.strip()) == {"="}]
    if len(rules) >= 3 and "Token secret" in "".join(lines[rules[0]:rules[-1]]):
        return "".join(lines[:rules[0]] + lines[rules[-1] + 1:])
    return stdout


def find_leaks(blob: bytes, where: str) -> list[str]:
    """Every seen secret (whole, or its random part), service credential and access token (whole, or its
    signature) found in `blob`, and anything shaped like a secret."""
    leaks = []
    for secret in Seen.secrets:
        if secret.encode() in blob or secret[4:44].encode() in blob:
            leaks.append(f"{where}: token secret {secret[:8]}…")
    for credential in Seen.service_credentials:
        if credential.encode() in blob or credential[6:46].encode() in blob:
            leaks.append(f"{where}: service credential {credential[:10]}…")
    for token in Seen.access_tokens:
        if token.encode() in blob or token.rsplit(".", 1)[-1].encode() in blob:
            leaks.append(f"{where}: access token {token[:16]}…")
    shaped = SECRET_SHAPE.search(blob)
    if shaped:
        leaks.append(f"{where}: secret-shaped bytes {shaped.group(0)[:10]!r}…")
    return leaks


def data_files(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def server_log_leaks(server: ServerProcess) -> list[str]:
    leaks = []
    for index, path in enumerate(server.stdout_paths):
        if path.exists():
            text = path.read_text(errors="replace")
            leaks += find_leaks(strip_banner(text).encode(), f"{server.root.name}/{path.name}")
    for path in server.stderr_paths:
        if path.exists():
            leaks += find_leaks(path.read_bytes(), f"{server.root.name}/{path.name}")
    return leaks
