"""End-to-end tests of the real `cloudfleet` CLI binary against the real session server (see conftest.py).

Every CLI command of the seed document (`/work/shared/seed/api-tokens.md`) is run verbatim, as the shell would
split it, and the whole seed flow is driven end to end: a profile with the bootstrap Administrator token,
create (shorthand), list, regenerate and delete with `tokens --profile cloudfleetou ...`, then a second profile
that uses a created token. Around it: profiles and where credentials come from (arguments, stdin, files, the
environment), input forms, output formats, the access-token cache, and every documented exit code (exit 7 and
what goes over the wire against a small fake API).

Each CLI invocation runs with stdin from /dev/null (or piped input), a fresh `CLOUDFLEET_CONFIG_DIR` and HOME
per test, and no `CLOUDFLEET_*` variable from the outer environment. Every error must be one `error:` line (or
ArgumentParser usage text for usage errors) on stderr, never a stack trace, and no output except that of
create/regenerate may carry a secret.

The binary is `$CLOUDFLEET_CLI_BIN` when set, else `<swift build --show-bin-path>/cloudfleet`, built with
`swift build --product cloudfleet` when it is missing.

Run: `python3 -m pytest Tests/e2e -q`.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import stat
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from conftest import CliRun as Run, CliRunner, built_binary, Seen, ServerProcess, bad_checksum, checksum_ok, free_port, unique, unknown_token_id, well_formed_wrong_secret

# =================================================================================================================
# Constants
# =================================================================================================================

TOKEN_FIELDS = {
    "id", "name", "role", "organization_id", "kubernetes_username", "secret_generation", "created_at",
    "updated_at", "secret_rotated_at", "last_used_at", "last_used_ip", "last_used_user_agent", "secret_last_used_at",
    "expires_at", "allowed_cidrs", "previous_secret_valid_until", "previous_secret_last_used_at", "created_by",
}
WHOAMI_FIELDS = {
    "source", "api_url", "organization_id", "organization_name", "token_id", "token_name", "role", "token_expires_at",
    "secret_in_use",
}
PROFILE_FIELDS = {"name", "default", "organization_id", "token_id", "api_url"}
TOKEN_ID_RE = re.compile(r"^[0-9A-Za-z]{22}$")
SECRET_RE = re.compile(r"^cfs_[0-9A-Za-z]{46}$")
SECRET_SHAPE = re.compile(r"cfs_[0-9A-Za-z]{8,}")  # a secret, or a piece of one
ONCE_WARNING = "shown only this once"
FAKE_ACCESS_TOKEN = "fake-access-token-for-the-fake-api"

# =================================================================================================================
# The binary
# =================================================================================================================


@pytest.fixture(scope="session")
def cli_binary() -> Path:
    return built_binary("CLOUDFLEET_CLI_BIN", "cloudfleet")


# =================================================================================================================
# Running the CLI
# =================================================================================================================


@dataclass(frozen=True)
class Cred:
    """An API token's ID and secret."""

    id: str
    secret: str


class Cli(CliRunner):
    """The `cloudfleet` binary with a configuration directory and HOME of its own (one per test)."""

    def __init__(self, binary: Path, root: Path, server: ServerProcess):
        super().__init__(binary, root)
        self.server = server

    def add_profile(self, name: str, cred: Cred, *extra: str, api_url: str | None = None) -> Run:
        return self("auth", "add-profile", "token", name, self.server.bootstrap.organization_id, cred.id, cred.secret,
                    "--api-url", api_url or self.server.url, *extra)


class HangUp:
    """A local listener that accepts every connection and closes it at once: an API that cannot be talked to.

    (A closed port would do as well, but the CLI takes its whole 30 s request timeout on a refused connection:
    see `test_closed_port_fails_fast`.)
    """

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            connection.close()

    def close(self) -> None:
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.socket.close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def hang_up():
    listener = HangUp()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def cli(cli_binary: Path, server: ServerProcess, tmp_path: Path) -> Cli:
    return Cli(cli_binary, tmp_path / "cli", server)


# =================================================================================================================
# Assertions
# =================================================================================================================


def assert_no_secret(run: Run, *also: str) -> None:
    """Neither stdout nor stderr carries any secret seen in this run (whole, or its random part)."""
    for secret in {*Seen.secrets, *also}:
        assert secret not in run.output and secret[4:44] not in run.output, f"a secret appears in the output:\n{run}"
    shaped = SECRET_SHAPE.search(run.output)
    assert not shaped, f"something secret-shaped ({shaped.group(0)[:10]}…) appears in the output:\n{run}"


def assert_error(run: Run, code: int, *fragments: str) -> str:
    """Exit `code`, nothing on stdout, one `error:` line on stderr holding every fragment; never a secret."""
    assert run.returncode == code, f"expected exit {code}:\n{run}"
    assert run.stdout == "", f"an error prints nothing on stdout:\n{run}"
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and run.stderr.endswith("\n"), \
        f"an error is one line starting 'error:':\n{run}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} is not in the error:\n{run}"
    assert_no_secret(run)
    return lines[0]


def assert_usage_error(run: Run, *fragments: str) -> None:
    """Exit 64 with either one `error:` line or ArgumentParser's `Error: ... Usage: ...` text."""
    assert run.returncode == 64, f"expected exit 64:\n{run}"
    assert run.stdout == "", f"a usage error prints nothing on stdout:\n{run}"
    if run.stderr.startswith("error: "):
        assert_error(run, 64, *fragments)
        return
    assert run.stderr.startswith("Error: ") and "\nUsage: cloudfleet" in run.stderr, f"not a usage message:\n{run}"
    for fragment in fragments:
        assert fragment in run.stderr, f"{fragment!r} is not in the usage message:\n{run}"
    assert_no_secret(run)


def assert_issued(run: Run, *, name: str, role: str, org_id: str) -> Cred:
    """A create/regenerate answer in JSON: the token's public fields and its new secret; the warning on stderr."""
    token = run.json()
    assert isinstance(token, dict) and set(token) == TOKEN_FIELDS | {"secret"}, f"fields:\n{run}"
    assert TOKEN_ID_RE.match(token["id"]) and SECRET_RE.match(token["secret"]) and checksum_ok(token["secret"]), token
    assert (token["name"], token["role"], token["organization_id"]) == (name, role, org_id), token
    assert token["kubernetes_username"] == "service-account-" + token["id"].lower()
    assert ONCE_WARNING in run.stderr, f"no 'shown only this once' warning on stderr:\n{run}"
    assert token["secret"] not in run.stderr
    return Cred(token["id"], token["secret"])


# =================================================================================================================
# The API, directly (to set up and to check what the CLI did)
# =================================================================================================================


def http(server: ServerProcess, method: str, path: str, cred: Cred, **kwargs) -> requests.Response:
    response = requests.request(method, server.url + path, auth=(cred.id, cred.secret), timeout=15, **kwargs)
    assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text[:300]}"
    if "json" in response.headers.get("Content-Type", ""):
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("secret"), str):
            Seen.secret(body["secret"])
    return response


def api_create(server: ServerProcess, actor: Cred, name: str, role: str) -> Cred:
    response = http(server, "POST", "/v1/tokens", actor, json={"name": name, "role": role})
    assert response.status_code == 201, response.text
    return Cred(response.json()["id"], response.json()["secret"])


def api_token(server: ServerProcess, actor: Cred, token_id: str) -> dict | None:
    response = http(server, "GET", f"/v1/tokens/{token_id}", actor)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.json()


def api_token_ids(server: ServerProcess, actor: Cred) -> set[str]:
    response = http(server, "GET", "/v1/tokens", actor, params={"limit": 200})
    assert response.status_code == 200 and response.json()["next_cursor"] is None, response.text
    return {t["id"] for t in response.json()["items"]}


def authenticates(server: ServerProcess, cred: Cred) -> bool:
    """Whether the API accepts `cred` by HTTP Basic."""
    status = http(server, "GET", "/v1/organization", cred).status_code
    assert status in (200, 401), status
    return status == 200














def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private_config(cli: Cli) -> None:
    """config.json is 0600 in a 0700 directory; every cached access token is 0600 in a 0700 directory."""
    assert mode(cli.config_dir) == 0o700, oct(mode(cli.config_dir))
    assert mode(cli.config_file) == 0o600, oct(mode(cli.config_file))
    if cli.cache_dir.exists():
        assert mode(cli.cache_dir) == 0o700, oct(mode(cli.cache_dir))
        for path in cli.cache_dir.iterdir():
            assert mode(path) == 0o600, f"{path.name}: {oct(mode(path))}"


# =================================================================================================================
# Fixtures
# =================================================================================================================


@pytest.fixture(scope="session")
def bootstrap(server: ServerProcess) -> Cred:
    """The bootstrap Administrator token of the session server (never regenerated or deleted here)."""
    return Cred(server.bootstrap.token_id, server.bootstrap.secret)


@pytest.fixture(scope="session")
def org_id(server: ServerProcess) -> str:
    return server.bootstrap.organization_id


@pytest.fixture(scope="session")
def admin(server: ServerProcess, bootstrap: Cred) -> Cred:
    """An Administrator token of the session organization for the CLI tests (made through the API)."""
    return api_create(server, bootstrap, "cli e2e administrator", "Administrator")


@pytest.fixture
def admin_cli(cli: Cli, admin: Cred) -> Cli:
    """`cli` with the Administrator profile `cloudfleetou` as its default."""
    cli.add_profile("cloudfleetou", admin)
    return cli


# =================================================================================================================
# 1. The seed document, end to end, verbatim
# =================================================================================================================


def test_seed_flow_end_to_end(cli: Cli, server: ServerProcess, bootstrap: Cred, org_id: str):
    # The seed's add-profile line exactly (no --api-url: the address comes from CLOUDFLEET_API_URL).
    cli.env["CLOUDFLEET_API_URL"] = server.url
    added = cli("auth", "add-profile", "token", "cloudfleetou", org_id, bootstrap.id, bootstrap.secret)
    assert "cloudfleetou" in added.stdout and "(default)" in added.stdout, added
    assert_no_secret(added)
    assert_private_config(cli)
    whoami = cli("auth", "whoami").json()
    assert whoami["token_id"] == bootstrap.id and whoami["role"] == "Administrator" and whoami["organization_id"] == org_id
    assert whoami["secret_in_use"] == "current"

    # `cloudfleet tokens create .name: HUMAN_FRIENDLY_NAME, .role: ROLE`, split as the shell splits it.
    created = cli("tokens", "create", ".name:", "HUMAN_FRIENDLY_NAME,", ".role:", "User")
    user = assert_issued(created, name="HUMAN_FRIENDLY_NAME", role="User", org_id=org_id)
    deploy_name = unique("deploy bot")
    words = deploy_name.split()
    created = cli("tokens", "create", ".name:", *words[:-1], words[-1] + ",", ".role:", "Administrator")
    deployer = assert_issued(created, name=deploy_name, role="Administrator", org_id=org_id)
    assert created.json()["created_by"] == f"token:{bootstrap.id}"
    assert authenticates(server, user) and authenticates(server, deployer)

    # `cloudfleet tokens list`: a JSON array of the organization's tokens, never a secret.
    listed = cli("tokens", "list")
    items = listed.json()
    assert isinstance(items, list) and all(set(t) == TOKEN_FIELDS for t in items), listed
    assert {bootstrap.id, user.id, deployer.id} <= {t["id"] for t in items}
    assert_no_secret(listed)

    # The seed's regenerate line with its own example ID: that token is not in this organization.
    assert_error(cli("tokens", "--profile", "cloudfleetou", "regenerate", "2iKo4Asy51EUx2gpJFW76t", expect=5), 5,
                 "not found")

    # `cloudfleet tokens --profile cloudfleetou regenerate ID`: a new secret; the old one is refused at once.
    regenerated = cli("tokens", "--profile", "cloudfleetou", "regenerate", user.id)
    fresh = assert_issued(regenerated, name="HUMAN_FRIENDLY_NAME", role="User", org_id=org_id)
    assert fresh.id == user.id and fresh.secret != user.secret
    assert regenerated.json()["secret_generation"] == 2
    assert not authenticates(server, user), "the old secret still works after regenerate"
    assert authenticates(server, fresh)

    # `cloudfleet tokens --profile cloudfleetou delete TOKEN_ID`: gone, its secret refused.
    deleted = cli("tokens", "--profile", "cloudfleetou", "delete", deployer.id)
    assert deleted.stdout == "" and f"Token {deployer.id} deleted." in deleted.stderr, deleted
    assert not authenticates(server, deployer)
    assert api_token(server, bootstrap, deployer.id) is None
    assert_error(cli("tokens", "describe", deployer.id, expect=5), 5, "not found")
    assert deployer.id not in {t["id"] for t in cli("tokens", "list").json()}

    # A created token configured in a profile of its own, and used.
    added = cli("auth", "add-profile", "token", "ci", org_id, fresh.id, fresh.secret)
    assert "(default)" not in added.stdout, "only the first profile becomes the default"
    listed = cli("tokens", "list", "--profile", "ci")
    assert {bootstrap.id, fresh.id} <= {t["id"] for t in listed.json()}
    assert_no_secret(listed)
    whoami = cli("auth", "whoami", "--profile", "ci").json()
    assert (whoami["token_id"], whoami["role"], whoami["source"]) == (fresh.id, "User", "profile ci")
    # The bootstrap secret was not touched.
    assert authenticates(server, bootstrap)


# =================================================================================================================
# 2. --profile before or after the subcommand, CLOUDFLEET_PROFILE
# =================================================================================================================


def test_profile_before_or_after_the_subcommand(cli: Cli, server: ServerProcess, admin: Cred, bootstrap: Cred,
                                                org_id: str, hang_up: HangUp):
    # The default profile is unusable (an API that hangs up), so every success below proves --profile was honoured.
    dead = hang_up.url
    cli.add_profile("broken", admin, api_url=dead)
    cli.add_profile("cloudfleetou", admin)
    assert_error(cli("tokens", "list", expect=6), 6, dead)

    targets = [api_create(server, bootstrap, unique("profile position"), "User") for _ in range(3)]

    # The seed's exact forms.
    run = cli("tokens", "--profile", "cloudfleetou", "regenerate", targets[0].id)
    assert assert_issued(run, name=run.json()["name"], role="User", org_id=org_id).id == targets[0].id
    run = cli("tokens", "--profile", "cloudfleetou", "delete", targets[0].id)
    assert f"Token {targets[0].id} deleted." in run.stderr
    assert api_token(server, bootstrap, targets[0].id) is None

    # After the subcommand, with --yes / -y.
    run = cli("tokens", "regenerate", targets[1].id, "--profile", "cloudfleetou")
    assert assert_issued(run, name=run.json()["name"], role="User", org_id=org_id).id == targets[1].id
    cli("tokens", "delete", targets[1].id, "--profile", "cloudfleetou", "--yes")
    cli("tokens", "--profile", "cloudfleetou", "delete", targets[2].id, "-y")
    assert api_token(server, bootstrap, targets[1].id) is None and api_token(server, bootstrap, targets[2].id) is None

    # Other commands; -o and --profile on either side.
    assert cli("tokens", "--profile", "cloudfleetou", "describe", admin.id).json()["id"] == admin.id
    table = cli("tokens", "--profile", "cloudfleetou", "-o", "table", "list")
    assert table.stdout.startswith("ID ") and admin.id in table.stdout, table
    assert cli("auth", "whoami", "--profile", "cloudfleetou").json()["source"] == "profile cloudfleetou"

    # CLOUDFLEET_PROFILE selects a profile; --profile wins over it.
    assert cli("auth", "whoami", env={"CLOUDFLEET_PROFILE": "cloudfleetou"}).json()["source"] == "profile cloudfleetou"
    assert_error(cli("tokens", "list", "--profile", "broken", env={"CLOUDFLEET_PROFILE": "cloudfleetou"}, expect=6), 6, dead)
    assert_error(cli("tokens", "list", env={"CLOUDFLEET_PROFILE": "nope"}, expect=1), 1, "no profile named nope")
    assert_error(cli("tokens", "--profile", "nope", "list", expect=1), 1, "no profile named nope", "cloudfleetou")


# =================================================================================================================
# 3. Profiles: where the secret comes from, default, list, remove, files on disk
# =================================================================================================================


def test_profiles_secret_sources_and_files(cli: Cli, server: ServerProcess, admin: Cred, org_id: str, tmp_path: Path):
    assert not cli.config_dir.exists()
    # As an argument: the first profile becomes the default.
    run = cli.add_profile("arg", admin)
    assert run.stdout.startswith("Profile arg saved (default)") and str(cli.config_file) in run.stdout, run
    assert_no_secret(run)
    assert_private_config(cli)
    # --secret-stdin, piped stdin with the argument left out, --secret-file; --set-default moves the default.
    base = ["auth", "add-profile", "token"]
    rest = [org_id, admin.id, "--api-url", server.url]
    run = cli(*base, "stdin-flag", *rest, "--secret-stdin", input=admin.secret + "\n")
    assert "(default)" not in run.stdout
    cli(*base, "piped", *rest, input=admin.secret)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(admin.secret + "\n")
    run = cli(*base, "from-file", *rest, "--secret-file", str(secret_file), "--set-default")
    assert "(default)" in run.stdout
    config = json.loads(cli.config_file.read_text())
    assert config["default_profile"] == "from-file"
    assert set(config["profiles"]) == {"arg", "stdin-flag", "piped", "from-file"}
    for profile in config["profiles"].values():
        assert profile["token_secret"] == admin.secret and profile["token_id"] == admin.id
        assert profile["organization_id"] == org_id and profile["api_url"] == server.url
    assert_private_config(cli)

    # Every profile works, whoami tells which one is used.
    for name in ("arg", "stdin-flag", "piped", "from-file"):
        whoami = cli("auth", "whoami", "--profile", name)
        identity = whoami.json()
        assert set(identity) == WHOAMI_FIELDS, identity
        assert identity == {
            "source": f"profile {name}", "api_url": server.url, "organization_id": org_id,
            "organization_name": identity["organization_name"], "token_id": admin.id,
            "token_name": "cli e2e administrator", "role": "Administrator", "token_expires_at": None,
            "secret_in_use": "current",
        }
        assert identity["organization_name"]
        assert_no_secret(whoami)
    assert cli("auth", "whoami").json()["source"] == "profile from-file"
    table = cli("auth", "whoami", "-o", "table")
    assert admin.id in table.stdout and "Administrator" in table.stdout and server.url in table.stdout, table
    assert_no_secret(table)

    # list-profiles: every format, never a secret.
    listed = cli("auth", "list-profiles", "-o", "json")
    rows = listed.json()
    assert [r["name"] for r in rows] == sorted(["arg", "stdin-flag", "piped", "from-file"])
    assert all(set(r) == PROFILE_FIELDS for r in rows), rows
    assert [r["name"] for r in rows if r["default"] is True] == ["from-file"]
    assert all(r["default"] is False for r in rows if r["name"] != "from-file")
    assert cli("auth", "list-profiles").json() == rows, "JSON is the default when stdout is piped"
    for output in ("table", "yaml"):
        assert_no_secret(cli("auth", "list-profiles", "-o", output))
    table = cli("auth", "list-profiles", "-o", "table")
    default_line = next(line for line in table.stdout.splitlines() if " from-file " in line)
    assert default_line.startswith("*"), table
    assert_no_secret(listed)

    # set-default, remove-profile.
    assert "arg" in cli("auth", "set-default", "arg").stdout
    assert json.loads(cli.config_file.read_text())["default_profile"] == "arg"
    assert cli("auth", "whoami").json()["source"] == "profile arg"
    assert_error(cli("auth", "set-default", "nope", expect=1), 1, "no profile named nope")
    cli("auth", "remove-profile", "piped")
    assert "piped" not in json.loads(cli.config_file.read_text())["profiles"]
    assert_error(cli("auth", "remove-profile", "piped", expect=1), 1, "no profile named piped")
    assert_error(cli("tokens", "list", "--profile", "piped", expect=1), 1, "no profile named piped")
    assert_private_config(cli)

    # Replacing a profile keeps one entry of that name.
    cli.add_profile("arg", admin)
    assert set(json.loads(cli.config_file.read_text())["profiles"]) == {"arg", "stdin-flag", "from-file"}

    # The access-token cache: private files, and the access tokens are recorded for the leak checks. (Removing a
    # profile forgot the access token these identical profiles share, so one call caches it again.)
    cli("auth", "whoami")
    cached = list(cli.cache_dir.iterdir())
    assert cached, "no access token was cached"
    for path in cached:
        entry = json.loads(path.read_text())
        assert set(entry) == {"access_token", "expires_at"}, sorted(entry)
        assert admin.secret not in path.read_text() and admin.secret[4:44] not in path.name
    assert_private_config(cli)


def test_add_profile_validates_offline(cli: Cli, admin: Cred, org_id: str, tmp_path: Path):
    """Bad input is refused with exit 64 before anything is written or any server is asked (a closed port)."""
    dead = f"http://127.0.0.1:{free_port()}"
    head = ["auth", "add-profile", "token"]
    tail = ["--api-url", dead]
    typo = bad_checksum(admin.secret)
    cases = [
        ([*head, "p", "not-a-uuid", admin.id, admin.secret, *tail], None, "ORGANIZATION_ID"),
        ([*head, "p", org_id, "short", admin.secret, *tail], None, "TOKEN_ID"),
        ([*head, "p", org_id, admin.id[:-1] + "!", admin.secret, *tail], None, "TOKEN_ID"),
        ([*head, "p", org_id, admin.id, typo, *tail], None, "checksum"),
        ([*head, "p", org_id, admin.id, "cfs_tooShort", *tail], None, "not a token secret"),
        ([*head, "p", org_id, admin.id, *tail], "", "not a token secret"),  # empty piped stdin
        ([*head, "p", org_id, admin.id, "--secret-stdin", *tail], typo, "checksum"),
        ([*head, "p", org_id, admin.id, admin.secret, "--secret-stdin", *tail], admin.secret, "one way"),
        ([*head, "bad name", org_id, admin.id, admin.secret, *tail], None, "PROFILE_NAME"),
        ([*head, "p", org_id, admin.id, admin.secret, "--api-url", "ftp://example.com"], None, "--api-url"),
        ([*head, "p", org_id, admin.id], None, "not a token secret"),  # stdin is /dev/null: no secret at all
        ([*head, "p", org_id], None, "token-id"),
    ]
    for args, stdin, fragment in cases:
        run = cli(*args, input=stdin, expect=None)
        assert_usage_error(run, fragment)
        assert typo not in run.output and typo[4:44] not in run.output
        assert not cli.config_file.exists(), f"a refused profile was written:\n{run}"
    # A secret file that cannot be read is a local error.
    run = cli(*head, "p", org_id, admin.id, "--secret-file", str(tmp_path / "missing"), *tail, expect=1)
    assert_error(run, 1, "cannot read")
    assert not cli.config_file.exists()


# =================================================================================================================
# 4. Credentials from the environment
# =================================================================================================================


def test_environment_credentials_without_a_config_file(cli: Cli, server: ServerProcess, admin: Cred, org_id: str,
                                                       hang_up: HangUp):
    full = {
        "CLOUDFLEET_ORGANIZATION_ID": org_id, "CLOUDFLEET_TOKEN_ID": admin.id, "CLOUDFLEET_TOKEN_SECRET": admin.secret,
        "CLOUDFLEET_API_URL": server.url,
    }
    whoami = cli("auth", "whoami", env=full)
    assert whoami.json() | {"organization_name": None} == {
        "source": "environment", "api_url": server.url, "organization_id": org_id, "organization_name": None,
        "token_id": admin.id, "token_name": "cli e2e administrator", "role": "Administrator", "token_expires_at": None,
        "secret_in_use": "current",
    }
    assert_no_secret(whoami)
    listed = cli("tokens", "list", env=full)
    assert admin.id in {t["id"] for t in listed.json()}
    assert_no_secret(listed)
    created = cli("tokens", "create", "--name", "from env", "--role", "User", env=full)
    made = assert_issued(created, name="from env", role="User", org_id=org_id)
    cli("tokens", "delete", made.id, env=full)
    assert not cli.config_file.exists(), "environment credentials need no configuration file"

    # Incomplete: a clear error naming what is missing.
    for missing in ("CLOUDFLEET_ORGANIZATION_ID", "CLOUDFLEET_TOKEN_ID", "CLOUDFLEET_TOKEN_SECRET"):
        partial = {k: v for k, v in full.items() if k != missing}
        assert_error(cli("tokens", "list", env=partial, expect=1), 1, "incomplete", missing)
    only_secret = {"CLOUDFLEET_TOKEN_SECRET": admin.secret, "CLOUDFLEET_API_URL": server.url}
    assert_error(cli("tokens", "list", env=only_secret, expect=1), 1, "CLOUDFLEET_ORGANIZATION_ID", "CLOUDFLEET_TOKEN_ID")
    # Nothing at all.
    assert_error(cli("tokens", "list", expect=1), 1, "no credentials", "add-profile")
    # A wrong secret in the environment: authentication fails.
    wrong = full | {"CLOUDFLEET_TOKEN_SECRET": well_formed_wrong_secret()}
    assert_error(cli("tokens", "list", env=wrong, expect=3), 3, "authentication failed")
    # CLOUDFLEET_PROFILE beats the environment credentials; the default profile loses to them.
    cli.add_profile("cloudfleetou", admin, api_url=hang_up.url)
    no_url = {k: v for k, v in full.items() if k != "CLOUDFLEET_API_URL"}
    assert_error(cli("tokens", "list", env=no_url | {"CLOUDFLEET_PROFILE": "cloudfleetou"}, expect=6), 6, hang_up.url)
    assert cli("auth", "whoami", env=full).json()["source"] == "environment"


# =================================================================================================================
# 5. Input forms of create and update
# =================================================================================================================

CREATE_FORMS = [
    # id, arguments after `tokens create`, stdin, files {name: text}, expected (name, role)
    ("seed-shorthand", [".name:", "HUMAN_FRIENDLY_NAME,", ".role:", "User"], None, {}, ("HUMAN_FRIENDLY_NAME", "User")),
    ("shorthand-admin", [".name:", "ops,", ".role:", "Administrator"], None, {}, ("ops", "Administrator")),
    ("name-with-spaces", [".name:", "deploy", "bot,", ".role:", "User"], None, {}, ("deploy bot", "User")),
    ("one-quoted-argument", [".name: deploy bot, .role: User"], None, {}, ("deploy bot", "User")),
    ("comma-in-name", [".name:", "Deploy,", "prod,", ".role:", "User"], None, {}, ("Deploy, prod", "User")),
    ("double-quoted-value", [".name:", '"a, .role: b",', ".role:", "User"], None, {}, ("a, .role: b", "User")),
    ("single-quoted-escape", [".name: 'say \\'hi\\'', .role: User"], None, {}, ("say 'hi'", "User")),
    ("role-first", [".role:", "User,", ".name:", "backwards"], None, {}, ("backwards", "User")),
    ("flags", ["--name", "deploy bot", "--role", "Administrator"], None, {}, ("deploy bot", "Administrator")),
    ("flags-override-shorthand", ["--name", "flag name", ".name:", "short,", ".role:", "User", "--role", "Administrator"],
     None, {}, ("flag name", "Administrator")),
    ("yaml-file", ["-f", "{dir}/token.yaml"], None, {"token.yaml": "name: from yaml\nrole: User\n"}, ("from yaml", "User")),
    ("json-file", ["--file", "{dir}/token.json"], None, {"token.json": '{"name": "from json", "role": "Administrator"}'},
     ("from json", "Administrator")),
    ("stdin-yaml", ["-f", "-"], "name: from stdin\nrole: Administrator\n", {}, ("from stdin", "Administrator")),
    ("stdin-json", ["-f", "-"], '{"name": "json stdin", "role": "User"}', {}, ("json stdin", "User")),
    ("flag-overrides-file", ["-f", "{dir}/t.yaml", "--role", "User"], None, {"t.yaml": "name: doc\nrole: Administrator\n"},
     ("doc", "User")),
    ("shorthand-overrides-file", ["-f", "-", ".name:", "short"], "name: doc\nrole: User\n", {}, ("short", "User")),
    ("file-plus-flag-name", ["-f", "-", "--name", "flagged"], '{"role": "Administrator"}', {}, ("flagged", "Administrator")),
]


@pytest.mark.parametrize("args, stdin, files, expected", [c[1:] for c in CREATE_FORMS], ids=[c[0] for c in CREATE_FORMS])
def test_create_input_forms(args, stdin, files, expected, admin_cli: Cli, server: ServerProcess, admin: Cred,
                            org_id: str, tmp_path: Path):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    run = admin_cli("tokens", "create", *args, input=stdin)
    name, role = expected
    made = assert_issued(run, name=name, role=role, org_id=org_id)
    stored = api_token(server, admin, made.id)
    assert (stored["name"], stored["role"]) == expected
    assert authenticates(server, made)


UPDATE_FORMS = [
    ("seed-like-role", [".role:", "Administrator"], None, {}, {"role": "Administrator"}),
    ("shorthand-name-and-role", [".name:", "renamed", "bot,", ".role:", "Administrator"], None, {},
     {"name": "renamed bot", "role": "Administrator"}),
    ("name-flag", ["--name", "flag renamed"], None, {}, {"name": "flag renamed"}),
    ("role-flag-lowercase", ["--role", "administrator"], None, {}, {"role": "Administrator"}),
    ("yaml-file", ["-f", "{dir}/u.yaml"], None, {"u.yaml": "role: Administrator\n"}, {"role": "Administrator"}),
    ("stdin-json", ["-f", "-"], '{"name": "stdin renamed"}', {}, {"name": "stdin renamed"}),
    ("flag-overrides-document", ["-f", "-", "--role", "User", ".role:", "Administrator"],
     "name: doc renamed\nrole: Administrator\n", {}, {"name": "doc renamed", "role": "User"}),
]


@pytest.mark.parametrize("args, stdin, files, change", [c[1:] for c in UPDATE_FORMS], ids=[c[0] for c in UPDATE_FORMS])
def test_update_input_forms(args, stdin, files, change, admin_cli: Cli, server: ServerProcess, admin: Cred,
                            tmp_path: Path):
    original = unique("update target")
    target = api_create(server, admin, original, "User")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    run = admin_cli("tokens", "update", target.id, *args, input=stdin)
    expected = {"name": original, "role": "User"} | change
    token = run.json()
    assert set(token) == TOKEN_FIELDS and token["id"] == target.id, run
    assert {"name": token["name"], "role": token["role"]} == expected
    assert token["secret_generation"] == 1, "an update does not touch the secret"
    assert_no_secret(run, target.secret)
    stored = api_token(server, admin, target.id)
    assert {"name": stored["name"], "role": stored["role"]} == expected
    assert authenticates(server, target), "an update keeps the secret"


# =================================================================================================================
# 6. Output formats; secrets appear only after create and regenerate
# =================================================================================================================


def test_output_formats_and_secrets_shown_once(admin_cli: Cli, server: ServerProcess, admin: Cred, org_id: str):
    cli = admin_cli
    # create in table mode: ID and secret on stdout, the warning on stderr.
    name = unique("table bot")
    table = cli("tokens", "create", "--name", name, "--role", "User", "-o", "table")
    secret_line = re.search(r"^\s*Secret:\s+(cfs_\S+)\s*$", table.stdout, re.M)
    id_line = re.search(r"^\s*Token ID:\s+(\S+)\s*$", table.stdout, re.M)
    assert secret_line and id_line, table
    made = Cred(id_line.group(1), secret_line.group(1))
    assert SECRET_RE.match(made.secret) and checksum_ok(made.secret) and TOKEN_ID_RE.match(made.id)
    assert ONCE_WARNING in table.stderr and made.secret not in table.stderr, table
    assert authenticates(server, made)
    # regenerate in YAML and table mode.
    regenerated = cli("tokens", "regenerate", made.id, "-o", "yaml")
    doc = yaml.safe_load(regenerated.stdout)
    assert doc["id"] == made.id and SECRET_RE.match(doc["secret"]) and ONCE_WARNING in regenerated.stderr, regenerated
    regenerated = cli("tokens", "regenerate", made.id, "-o", "table")
    assert made.id in regenerated.stdout and ONCE_WARNING in regenerated.stderr, regenerated
    current = Cred(made.id, re.search(r"Secret:\s+(cfs_\S+)", regenerated.stdout).group(1))
    assert authenticates(server, current) and not authenticates(server, made)
    secrets = {made.secret, doc["secret"], current.secret, admin.secret}
    assert secrets <= Seen.secrets

    # list: JSON by default (stdout is a pipe), the same with -o json, a table, YAML; never a secret.
    default = cli("tokens", "list")
    tokens = default.json()
    assert isinstance(tokens, list) and all(set(t) == TOKEN_FIELDS for t in tokens)
    by_id = {t["id"]: t for t in tokens}
    assert by_id[made.id]["name"] == name and by_id[made.id]["secret_generation"] == 3
    explicit = cli("tokens", "list", "-o", "json")
    assert [t["id"] for t in explicit.json()] == [t["id"] for t in tokens]
    table = cli("tokens", "list", "-o", "table")
    assert table.stdout.split("\n", 1)[0].split() == ["ID", "NAME", "ROLE", "CREATED", "LAST", "USED", "LAST", "IP", "EXPIRES"], table
    assert made.id in table.stdout and name in table.stdout
    listed_yaml = yaml.safe_load(cli("tokens", "list", "-o", "yaml").stdout)
    assert [t["id"] for t in listed_yaml] == [t["id"] for t in tokens]

    # describe in every format.
    described = cli("tokens", "describe", made.id)
    assert described.json()["id"] == made.id and set(described.json()) == TOKEN_FIELDS
    described_table = cli("tokens", "describe", made.id, "-o", "table")
    assert made.id in described_table.stdout and "service-account-" + made.id.lower() in described_table.stdout
    described_yaml = cli("tokens", "describe", made.id, "-o", "yaml")
    assert yaml.safe_load(described_yaml.stdout)["id"] == made.id
    updated = cli("tokens", "update", made.id, ".name:", name + " renamed", "-o", "table")
    assert name + " renamed" in updated.stdout

    # No command but create/regenerate prints a secret.
    quiet = [default, explicit, table, described, described_table, described_yaml, updated,
             cli("tokens", "list", "-o", "yaml"), cli("tokens", "update", made.id, "--role", "Administrator"),
             cli("auth", "whoami"), cli("auth", "whoami", "-o", "table"), cli("auth", "whoami", "-o", "yaml"),
             cli("auth", "list-profiles"), cli("auth", "list-profiles", "-o", "table"),
             cli("auth", "list-profiles", "-o", "yaml")]
    for run in quiet:
        assert_no_secret(run, *secrets)


def test_yaml_output_is_the_json_output(admin_cli: Cli, admin: Cred):
    cli = admin_cli
    assert yaml.safe_load(cli("tokens", "describe", admin.id, "-o", "yaml").stdout) == \
        cli("tokens", "describe", admin.id, "-o", "json").json()
    assert yaml.safe_load(cli("auth", "list-profiles", "-o", "yaml").stdout) == cli("auth", "list-profiles", "-o", "json").json()


def test_version_help_and_completion_scripts(cli: Cli):
    version = cli("--version")
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*\n", version.stdout), version
    help_text = cli("--help").stdout
    for code in ("0 success", "1 configuration", "2 ", "3 authentication", "4 ", "5 not found", "6 ", "64 usage"):
        assert code in " ".join(help_text.split()), f"{code!r} is not documented in --help:\n{help_text}"
    assert "tokens" in help_text and "auth" in help_text
    for shell in ("bash", "zsh", "fish"):
        script = cli("--generate-completion-script", shell)
        assert script.stdout.strip() and "tokens" in script.stdout and "add-profile" in script.stdout, shell
    for command in (["tokens"], ["tokens", "--help"], ["tokens", "create", "--help"], ["auth", "add-profile", "token", "--help"]):
        assert cli(*command).stdout.startswith("OVERVIEW:")
    assert not cli.config_dir.exists(), "help and version write nothing"


# =================================================================================================================
# 7. Authentication: a regenerated secret, the cache, deleted tokens
# =================================================================================================================


def test_secret_regenerated_elsewhere(cli: Cli, server: ServerProcess, admin: Cred, org_id: str):
    victim = api_create(server, admin, unique("rotated elsewhere"), "Administrator")
    cli.add_profile("victim", victim)
    assert cli("tokens", "list").returncode == 0
    cached = list(cli.cache_dir.iterdir())
    assert len(cached) == 1, "the access token is cached"
    assert_private_config(cli)

    # Someone else regenerates the secret: the cached access token and the old secret are both refused.
    response = http(server, "POST", f"/v1/tokens/{victim.id}/secret", admin)
    assert response.status_code == 200, response.text
    fresh = Cred(victim.id, response.json()["secret"])
    for command in (["tokens", "list"], ["auth", "whoami"], ["tokens", "describe", victim.id],
                    ["tokens", "create", ".name:", "x,", ".role:", "User"]):
        run = cli(*command, expect=3)
        assert_error(run, 3, "authentication failed")
        assert_no_secret(run, victim.secret, fresh.secret)
    assert not authenticates(server, victim)

    # The new secret in the same profile works (and caches a new access token).
    cli.add_profile("victim", fresh)
    whoami = cli("auth", "whoami").json()
    assert (whoami["token_id"], whoami["role"]) == (victim.id, "Administrator")
    assert_private_config(cli)

    # A deleted token: authentication fails too, also with an access token cached before.
    assert http(server, "DELETE", f"/v1/tokens/{victim.id}", admin).status_code == 204
    assert_error(cli("tokens", "list", expect=3), 3, "authentication failed")


def test_whoami_says_when_the_previous_secret_of_a_grace_period_is_in_use(cli: Cli, server: ServerProcess, admin: Cred):
    pipeline = api_create(server, admin, unique("graceful"), "User")
    cli.add_profile("graceful", pipeline)
    response = http(server, "POST", f"/v1/tokens/{pipeline.id}/secret", admin, json={"grace_period": "1h"})
    assert response.status_code == 200, response.text
    fresh = Cred(pipeline.id, response.json()["secret"])

    table = cli("auth", "whoami", "--profile", "graceful", "-o", "table")
    assert "previous one" in table.stdout and "switch to the new secret" in table.stdout, table
    assert cli("auth", "whoami", "--profile", "graceful").json()["secret_in_use"] == "previous"
    assert_no_secret(table, pipeline.secret, fresh.secret)

    cli.add_profile("graceful", fresh)
    table = cli("auth", "whoami", "--profile", "graceful", "-o", "table")
    assert "previous one" not in table.stdout and "Role:" in table.stdout, table
    assert cli("auth", "whoami", "--profile", "graceful").json()["secret_in_use"] == "current"


def test_wrong_credentials_fail_authentication(cli: Cli, admin: Cred):
    cli.add_profile("wrong-secret", Cred(admin.id, well_formed_wrong_secret()))
    cli.add_profile("unknown-id", Cred(unknown_token_id(), admin.secret))
    for profile in ("wrong-secret", "unknown-id"):
        for command in (["tokens", "list"], ["auth", "whoami"]):
            assert_error(cli(*command, "--profile", profile, expect=3), 3, "authentication failed")
    assert not cli.cache_dir.exists() or not any(cli.cache_dir.iterdir()), "nothing is cached for refused credentials"


# =================================================================================================================
# 8. Roles, not found, unreachable, server refusals, usage errors
# =================================================================================================================


def test_user_role_may_read_but_not_change(cli: Cli, server: ServerProcess, admin: Cred, org_id: str):
    reader = api_create(server, admin, unique("cli reader"), "User")
    target = api_create(server, admin, unique("cli target"), "User")
    cli.add_profile("reader", reader)
    before = api_token(server, admin, target.id)
    ids_before = api_token_ids(server, admin)

    assert {target.id, reader.id} <= {t["id"] for t in cli("tokens", "list").json()}
    assert cli("tokens", "describe", target.id).json()["name"] == before["name"]
    assert cli("auth", "whoami").json()["role"] == "User"
    refused = [
        ["tokens", "create", ".name:", "escalate,", ".role:", "Administrator"],
        ["tokens", "create", "--name", "plain", "--role", "User"],
        ["tokens", "update", target.id, ".role:", "Administrator"],
        ["tokens", "update", reader.id, ".role:", "Administrator"],
        ["tokens", "regenerate", target.id],
        ["tokens", "--profile", "reader", "regenerate", reader.id],
        ["tokens", "delete", target.id],
        ["tokens", "--profile", "reader", "delete", reader.id],
    ]
    for command in refused:
        assert_error(cli(*command, expect=4), 4, "permission denied")
    after = api_token(server, admin, target.id)
    assert after == before | {"last_used_at": after["last_used_at"], "last_used_ip": after["last_used_ip"]}
    assert api_token_ids(server, admin) == ids_before
    assert authenticates(server, reader) and authenticates(server, target)


def test_not_found_and_server_refusals(admin_cli: Cli, server: ServerProcess, admin: Cred):
    cli = admin_cli
    ghost = unknown_token_id()
    for command in (["tokens", "describe", ghost], ["tokens", "update", ghost, ".role:", "User"],
                    ["tokens", "regenerate", ghost], ["tokens", "delete", ghost], ["tokens", "delete", ghost, "--yes"]):
        assert_error(cli(*command, expect=5), 5, "not found")
    ids_before = api_token_ids(server, admin)
    for command in (["tokens", "create", "--name", "", "--role", "User"],
                    ["tokens", "create", ".name:", "n" * 101 + ",", ".role:", "User"],
                    ["tokens", "update", admin.id, "--name", ""]):
        assert_error(cli(*command, expect=2), 2, "invalid request")
    assert api_token_ids(server, admin) == ids_before, "a refused create created something"


def test_unreachable_api(cli: Cli, admin: Cred, hang_up: HangUp):
    dead = hang_up.url
    cli.add_profile("cloudfleetou", admin, api_url=dead)
    for command in (["tokens", "list"], ["auth", "whoami"], ["tokens", "create", ".name:", "x,", ".role:", "User"],
                    ["tokens", "--profile", "cloudfleetou", "regenerate", admin.id],
                    ["tokens", "--profile", "cloudfleetou", "delete", admin.id]):
        assert_error(cli(*command, expect=6), 6, "cannot reach", dead)
    # --api-url and CLOUDFLEET_API_URL override the profile's address; --api-url wins.
    other = HangUp()
    try:
        assert_error(cli("tokens", "list", env={"CLOUDFLEET_API_URL": other.url}, expect=6), 6, other.url)
        assert_error(cli("tokens", "list", "--api-url", other.url, env={"CLOUDFLEET_API_URL": dead}, expect=6), 6,
                     other.url)
        assert_error(cli("tokens", "--api-url", other.url, "list", expect=6), 6, other.url)
    finally:
        other.close()
    assert cli("tokens", "list", "--api-url", cli.server.url).json()


def test_closed_port_fails_fast(cli: Cli, admin: Cred):
    closed = f"http://127.0.0.1:{free_port()}"
    cli.add_profile("cloudfleetou", admin, api_url=closed)
    run = cli("tokens", "list", expect=None, timeout=5)
    assert_error(run, 6, "cannot reach", closed)
    run = cli("tokens", "--profile", "cloudfleetou", "delete", admin.id, expect=None, timeout=5)
    assert_error(run, 6, "cannot reach", closed)


USAGE_ERRORS = [
    ("create-without-fields", ["tokens", "create"], ".name:"),
    ("create-name-only", ["tokens", "create", ".name:", "x"], "give both a name and a role"),
    ("unknown-shorthand-field", ["tokens", "create", ".name:", "x,", ".colour:", "red"], "unknown field .colour"),
    ("only-unknown-field", ["tokens", "create", ".colour:", "red"], ".colour"),
    ("role-owner", ["tokens", "create", ".name:", "x,", ".role:", "Owner"], "Administrator or User"),
    ("role-owner-flag", ["tokens", "create", "--name", "x", "--role", "Owner"], "Administrator or User"),
    ("seed-placeholder-role", ["tokens", "create", ".name:", "HUMAN_FRIENDLY_NAME,", ".role:", "ROLE"],
     "Administrator or User"),
    ("field-twice", ["tokens", "create", ".name:", "x,", ".name:", "y,", ".role:", "User"], "twice"),
    ("field-without-value", ["tokens", "create", ".name:", ",", ".role:", "User"], ".name"),
    ("not-shorthand", ["tokens", "create", "name:", "x"], "field"),
    ("unclosed-quote", ["tokens", "create", '.name: "x, .role: User'], "not closed"),
    ("file-unknown-field", ["tokens", "create", "-f", "-"], "colour"),  # stdin below
    ("update-without-fields", ["tokens", "update", "{id}"], ".role:"),
    ("update-role-owner", ["tokens", "update", "{id}", ".role:", "Owner"], "Administrator or User"),
    ("describe-without-id", ["tokens", "describe"], "<id>"),
    ("unknown-output", ["tokens", "list", "-o", "xml"], "xml"),
    ("unknown-subcommand", ["tokens", "frobnicate"], "frobnicate"),
    ("unknown-option", ["tokens", "list", "--colour"], "--colour"),
]


@pytest.mark.parametrize("args, fragment", [c[1:] for c in USAGE_ERRORS], ids=[c[0] for c in USAGE_ERRORS])
def test_usage_errors(args, fragment, admin_cli: Cli, server: ServerProcess, admin: Cred):
    ids_before = api_token_ids(server, admin)
    stdin = "name: x\nrole: User\ncolour: red\n" if "-f" in args else None
    run = admin_cli(*[a.replace("{id}", admin.id) for a in args], input=stdin, expect=None)
    assert_usage_error(run, fragment)
    assert api_token_ids(server, admin) == ids_before


def test_local_errors(cli: Cli, admin: Cred, tmp_path: Path):
    # A token file that cannot be read, a configuration file that is not one.
    cli.add_profile("cloudfleetou", admin)
    run = cli("tokens", "create", "-f", str(tmp_path / "missing.yaml"), expect=None)
    assert run.returncode in (1, 64), run  # see the report: add-profile --secret-file answers 1 for the same case
    assert_error(run, run.returncode, "cannot read")
    cli.config_file.write_text("{ not json")
    for command in (["tokens", "list"], ["auth", "list-profiles"], ["auth", "whoami"]):
        assert_error(cli(*command, expect=1), 1, str(cli.config_file))


# =================================================================================================================
# 9. Delete never prompts without a terminal
# =================================================================================================================


def test_delete_does_not_prompt_without_a_terminal(admin_cli: Cli, server: ServerProcess, admin: Cred):
    piped = api_create(server, admin, unique("delete piped"), "User")
    # A "no" on a piped stdin is not read: stdin is no terminal, so nothing is asked.
    run = admin_cli("tokens", "delete", piped.id, input="n\n")
    assert "[y/N]" not in run.stderr and f"Token {piped.id} deleted." in run.stderr, run
    assert api_token(server, admin, piped.id) is None and not authenticates(server, piped)
    assert_no_secret(run)


def test_error_never_echoes_a_secret_given_as_token_id(admin_cli: Cli, admin: Cred):
    for command in (["tokens", "describe", admin.secret], ["tokens", "--profile", "cloudfleetou", "delete", admin.secret]):
        run = admin_cli(*command, expect=None)
        assert run.returncode in (2, 5, 64), run
        assert_no_secret(run)


# =================================================================================================================
# 10. Many tokens: list walks every page
# =================================================================================================================


def test_list_walks_every_page(cli: Cli, server: ServerProcess):
    """More tokens than one page of the API (200) in an organization of their own: list shows each exactly once."""
    org = server.admin("create-organization", "--name", "E2E CLI Paging Org")
    first = server.admin("create-token", "--name", "paging admin", "--role", "Administrator",
                         "--organization", org["organization_id"])
    boss = Cred(first["id"], first["secret"])
    expected = [boss.id]
    with requests.Session() as session:
        session.auth = (boss.id, boss.secret)
        for i in range(204):
            response = session.post(server.url + "/v1/tokens", json={"name": f"page {i}", "role": "User"}, timeout=15)
            assert response.status_code == 201, response.text
            expected.append(response.json()["id"])
            Seen.secret(response.json()["secret"])
    cli("auth", "add-profile", "token", "pager", org["organization_id"], boss.id, boss.secret, "--api-url", server.url)
    listed = cli("tokens", "list")
    assert [t["id"] for t in listed.json()] == expected, "every token once, oldest first"
    assert_no_secret(listed)
    table = cli("tokens", "list", "-o", "table")
    assert len(table.stdout.splitlines()) == 1 + len(expected)


# =================================================================================================================
# 11. What goes over the wire, and a failing server (exit 7), against a fake API
# =================================================================================================================


class FakeAPI:
    """A scripted HTTP API on 127.0.0.1 that records every request: (method, path, headers, body)."""

    def __init__(self, answers: dict[tuple[str, str], tuple[int, str]]):
        self.answers = answers
        self.requests: list[tuple[str, str, dict[str, str], str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path = self.path.split("?", 1)[0]
                fake.requests.append((self.command, path, dict(self.headers), body))
                status, text = fake.answers.get((self.command, path), (404, '{"error": {"code": "not_found", "message": "No such route."}}'))
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def test_wire_and_server_failures(cli: Cli, admin: Cred):
    grant = json.dumps({"access_token": FAKE_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})
    fake = FakeAPI({
        ("POST", "/v1/auth/token"): (200, grant),
        ("GET", "/v1/tokens"): (500, '{"error": {"code": "internal", "message": "Database on fire."}}'),
        ("GET", f"/v1/tokens/{admin.id}"): (200, "this is not json"),
    })

    def calls(since: int) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _, _ in fake.requests[since:]]

    try:
        cli.add_profile("fake", admin, api_url=fake.url)
        assert fake.requests == [], "add-profile works offline"
        # A 5xx: exit 7 with the server's message. The secret was exchanged first, then the call made.
        assert_error(cli("tokens", "list", expect=7), 7, "HTTP 500", "Database on fire.")
        assert calls(0) == [("POST", "/v1/auth/token"), ("GET", "/v1/tokens")]
        # An answer that is not JSON: exit 7. The access token comes from the cache.
        assert_error(cli("tokens", "describe", admin.id, expect=7), 7, "could not be read")
        assert calls(2) == [("GET", f"/v1/tokens/{admin.id}")]
        # A 401: the cached access token is dropped, a new one exchanged, the call retried once, then exit 3.
        fake.answers[("GET", "/v1/tokens")] = (401, '{"error": {"code": "unauthorized", "message": "No."}}')
        assert_error(cli("tokens", "list", expect=3), 3, "authentication failed")
        assert calls(3) == [("GET", "/v1/tokens"), ("POST", "/v1/auth/token"), ("GET", "/v1/tokens")]
        # The token endpoint refusing the credentials: exit 3 at once.
        fake.answers[("POST", "/v1/auth/token")] = (401, '{"error": "invalid_client"}')
        for path in list(cli.cache_dir.iterdir()):
            path.unlink()
        assert_error(cli("tokens", "list", expect=3), 3, "authentication failed")
        assert calls(6) == [("POST", "/v1/auth/token")]
    finally:
        fake.close()

    # The secret goes only to the token endpoint, as HTTP Basic; every API call carries the access token.
    for method, path, headers, body in fake.requests:
        authorization = headers.get("Authorization", "")
        if path == "/v1/auth/token":
            assert method == "POST" and authorization == "Basic " + base64.b64encode(f"{admin.id}:{admin.secret}".encode()).decode()
            assert body == "grant_type=client_credentials"
        else:
            assert authorization == "Bearer " + FAKE_ACCESS_TOKEN, (method, path, authorization)
            assert admin.secret not in body and admin.secret not in path
