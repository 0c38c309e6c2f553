"""Fixtures of the end-to-end suite: the real `cloudfleet-server` binary, started as a process.

The binary is `$CLOUDFLEET_SERVER_BIN` when set, else `<repo>/.build/debug/cloudfleet-server`, built with
`swift build --product cloudfleet-server` when it is missing or older than the sources. Every server runs on
127.0.0.1 and a free port with its own data directory; its stdout and stderr go to files beside (never inside)
that directory, so that the files at rest and the logs can be inspected after it stops.
"""

from __future__ import annotations

import gc
import json
import zlib
import uuid
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]

READY_DEADLINE = 30.0  # seconds for /readyz to answer 200 after start
READY_POLL = 0.05  # seconds between readiness polls
STOP_DEADLINE = 10.0  # seconds a SIGTERM'd server may take to exit
BUILD_DEADLINE = 1800.0  # seconds for `swift build` (another build may hold the SwiftPM lock)


# ---------------------------------------------------------------------------------------------------------------
# Everything secret the run has seen: checked against the files at rest and the logs at the end.


class Seen:
    """Secrets and access tokens seen during the whole run (filled by the helpers that receive them)."""

    secrets: set[str] = set()
    access_tokens: set[str] = set()
    service_credentials: set[str] = set()  # `cfsvc_…` of `admin create-service-credential`

    @classmethod
    def secret(cls, value: str) -> str:
        cls.secrets.add(value)
        return value

    @classmethod
    def access_token(cls, value: str) -> str:
        cls.access_tokens.add(value)
        return value

    @classmethod
    def service_credential(cls, value: str) -> str:
        cls.service_credentials.add(value)
        return value


# ---------------------------------------------------------------------------------------------------------------
# The binary


def record_issued(response: requests.Response) -> None:
    """Remembers every secret and access token a JSON answer carries, for the log and at-rest checks (`Seen`)."""
    if "json" not in response.headers.get("Content-Type", ""):
        return
    try:
        body = response.json()
    except ValueError:
        return
    if isinstance(body, dict):
        if isinstance(body.get("secret"), str):
            Seen.secret(body["secret"])
        if isinstance(body.get("access_token"), str):
            Seen.access_token(body["access_token"])


@dataclass
class CliRun:
    """One run of the `cloudfleet` binary."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AssertionError(f"cloudfleet {' '.join(self.args)} printed no JSON:\n{self}") from None

    def __str__(self) -> str:
        return f"$ cloudfleet {' '.join(self.args)}\nexit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


# What the CLI runner watches for: a token secret anywhere in output, a crash or backtrace, an access token (JWT).
SECRET_ANYWHERE = re.compile(r"cfs_[0-9A-Za-z]{46}")
CRASH = re.compile(r"Fatal error|Stack dump|Backtrace|Program crashed|Thread \d+ crashed|💣|\.swift:\d+|Swift/|0x[0-9a-f]{8,}")
JWT = re.compile(r"^[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}$")


class CliRunner:
    """The `cloudfleet` binary with a configuration directory and HOME of its own. Every run records the secrets
    it printed and the access tokens it cached (`Seen`), and fails on a crash or an unexpected exit code."""

    def __init__(self, binary: Path, root: Path):
        self.binary = binary
        self.home = root / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_dir = root / "cloudfleet-config"  # not created here: the CLI creates it
        self.env: dict[str, str] = {}  # CLOUDFLEET_* settings for every call

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    @property
    def cache_dir(self) -> Path:
        return self.config_dir / "cache"

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
                 expect: int | None = 0, timeout: float = 60) -> CliRun:
        environment = clean_env(HOME=str(self.home), CLOUDFLEET_CONFIG_DIR=str(self.config_dir))
        environment.update(self.env)
        environment.update(env or {})
        kwargs = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        started = time.monotonic()
        try:
            done = subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=timeout,
                                  env=environment, **kwargs)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"cloudfleet {' '.join(args)} did not finish within {timeout:g} s (killed)") from None
        run = CliRun(tuple(args), done.returncode, done.stdout, done.stderr, time.monotonic() - started)
        for secret in SECRET_ANYWHERE.findall(run.stdout):
            Seen.secret(secret)
        self._record_cached_access_tokens()
        assert run.returncode >= 0, f"the CLI was killed by signal {-run.returncode}:\n{run}"
        assert not CRASH.search(run.stderr), f"a crash or stack trace on stderr:\n{run}"
        if expect is not None:
            assert run.returncode == expect, f"expected exit {expect}:\n{run}"
        return run

    def _record_cached_access_tokens(self) -> None:
        if not self.cache_dir.is_dir():
            return
        for path in self.cache_dir.iterdir():
            try:
                entry = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            token = entry.get("access_token") if isinstance(entry, dict) else None
            # Only real access tokens (JWTs), not a fake API's.
            if isinstance(token, str) and JWT.match(token):
                Seen.access_token(token)


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in ("Package.swift", "Package.resolved"):
        path = REPO / name
        if path.exists():
            newest = max(newest, path.stat().st_mtime)
    for path in (REPO / "Sources").rglob("*"):
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
    return newest


def built_binary(variable: str, product: str) -> Path:
    """The binary named by `variable`, else the debug build of `product`, built first when missing or older than
    the sources."""
    configured = os.environ.get(variable)
    if configured:
        binary = Path(configured)
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            pytest.fail(f"{variable}={configured} is not an executable file")
        return binary
    binary = REPO / ".build" / "debug" / product
    if not binary.exists() or binary.stat().st_mtime < _newest_source_mtime():
        try:
            build = subprocess.run(
                ["swift", "build", "--product", product],
                cwd=REPO, capture_output=True, text=True, timeout=BUILD_DEADLINE, stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            pytest.fail(f"swift is not on PATH and {binary} is missing or stale; set {variable}")
        if build.returncode != 0:
            pytest.fail(f"swift build failed ({build.returncode}):\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}")
    if not binary.exists():
        pytest.fail(f"{binary} does not exist after building")
    return binary


@pytest.fixture(scope="session")
def server_binary() -> Path:
    return built_binary("CLOUDFLEET_SERVER_BIN", "cloudfleet-server")


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any CLOUDFLEET_* setting that could redirect the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLEET_")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------------------------
# A server process


@dataclass
class Bootstrap:
    organization_id: str
    token_id: str
    secret: str


BANNER = {
    "organization_id": re.compile(r"^\s*Organization ID\s*:\s*(\S+)\s*$", re.M),
    "token_id": re.compile(r"^\s*Token ID\s*:\s*(\S+)\s*$", re.M),
    "secret": re.compile(r"^\s*Token secret\s*:\s*(\S+)\s*$", re.M),
}


def parse_banner(stdout: str) -> Bootstrap | None:
    found = {key: pattern.search(stdout) for key, pattern in BANNER.items()}
    if not any(found.values()):
        return None
    missing = [key for key, match in found.items() if match is None]
    assert not missing, f"incomplete bootstrap banner (missing {missing}):\n{stdout}"
    return Bootstrap(**{key: match.group(1) for key, match in found.items()})


@dataclass(frozen=True)
class ServerTLS:
    """What makes a server serve HTTPS: `--tls-cert`, `--tls-key` and `--tls-ca` (the CA bundle that verifies the
    certificate, which the server hands to clusters). Clients of the server trust `ca`."""

    cert: Path
    key: Path
    ca: Path

    def args(self) -> list[str]:
        return ["--tls-cert", str(self.cert), "--tls-key", str(self.key), "--tls-ca", str(self.ca)]


@dataclass
class ServerProcess:
    """One `cloudfleet-server serve` on a data directory; may be stopped and started again on it."""

    binary: Path
    root: Path  # holds data/ and logs/
    log_level: str | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    starts: int = 0
    stdout_paths: list[Path] = field(default_factory=list)
    stderr_paths: list[Path] = field(default_factory=list)
    bootstrap: Bootstrap | None = None  # from the first start's banner, if it printed one
    extra_args: list[str] = field(default_factory=list)  # e.g. ["--database-url", "postgres://…"]
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. {"CLOUDFLEET_SERVER_KEY": "…"}
    tls: ServerTLS | None = None  # serve HTTPS with these files (plain HTTP when None)
    wrapper: list[str] = field(default_factory=list)  # a command that execs the server, e.g. ["taskset", "-c", "0"]

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> str | bool:
        """What `requests` needs to trust the server: its CA bundle when it serves HTTPS."""
        return str(self.tls.ca) if self.tls else True

    def start(self) -> Bootstrap | None:
        """Starts the server and waits for /readyz; answers the banner this start printed, if any."""
        assert self.process is None, "already running"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        out_path = self.log_dir / f"stdout-{self.starts}.txt"
        err_path = self.log_dir / f"stderr-{self.starts}.txt"
        self.stdout_paths.append(out_path)
        self.stderr_paths.append(err_path)
        args = [str(self.binary), "serve", "--data-dir", str(self.data_dir), "--port", str(self.port), "--host", "127.0.0.1"]
        if self.log_level:
            args += ["--log-level", self.log_level]
        if self.tls:
            args += self.tls.args()
        args = self.wrapper + args + self.extra_args
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            self.process = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=clean_env(**self.extra_env))
        self._wait_ready()
        banner = parse_banner(out_path.read_text(errors="replace"))
        if banner and self.bootstrap is None:
            self.bootstrap = banner
            Seen.secret(banner.secret)
        return banner

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_DEADLINE
        last = "no answer"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.process = None
                pytest.fail(f"server exited with {code} before it was ready:\n{self.stderr_paths[-1].read_text(errors='replace')[-4000:]}")
            try:
                response = requests.get(self.url + "/readyz", timeout=1, verify=self.verify)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text!r}"
            except requests.RequestException as error:
                last = repr(error)
            time.sleep(READY_POLL)
        self.kill()
        pytest.fail(f"server not ready within {READY_DEADLINE}s (last: {last})")

    def stop(self) -> int:
        """SIGTERM, then wait for the exit; answers the exit code. Fails (after SIGKILL) when it hangs."""
        assert self.process is not None, "not running"
        process, self.process = self.process, None
        # A `requests` response keeps its socket open until the garbage collector frees it (a reference cycle); over
        # TLS the server's graceful stop waits about 5 s for such a connection to close, so close them all first.
        gc.collect()
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"server did not exit within {STOP_DEADLINE}s of SIGTERM")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stderr_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.stderr_paths if p.exists())

    def admin(self, *args: str) -> dict:
        return run_admin(self.binary, self.data_dir, *args)


@dataclass
class AdminResult:
    returncode: int
    stdout: str
    stderr: str
    json: dict | None


def run_admin_raw(binary: Path, data_dir: Path, *args: str) -> AdminResult:
    """Runs `cloudfleet-server admin ... --output json --data-dir D`.

    stdout is unbuffered (stdbuf) so that what the command printed survives even if it crashes on exit, and the
    Swift backtracer is off so a crash costs no seconds; the exit code is reported as is.
    """
    command = [str(binary), "admin", *args, "--output", "json", "--data-dir", str(data_dir)]
    if shutil.which("stdbuf"):
        command = ["stdbuf", "-o0", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=clean_env(SWIFT_BACKTRACE="enable=no"))
    try:
        parsed = json.loads(done.stdout)
    except ValueError:
        parsed = None
    if parsed and "secret" in parsed:
        Seen.secret(parsed["secret"])
    return AdminResult(done.returncode, done.stdout, done.stderr, parsed)


def run_admin(binary: Path, data_dir: Path, *args: str) -> dict:
    """The JSON an admin command printed; fails unless it printed complete JSON.

    The exit code is not asserted here but in its own test (`test_admin_cli_exits_cleanly`), so that a crash of
    the command on exit does not hide what the HTTP API does with what it created.
    """
    result = run_admin_raw(binary, data_dir, *args)
    assert result.json is not None, f"admin {args} printed no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr[-2000:]}"
    return result.json


# ---------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def server(server_binary: Path, tmp_path_factory: pytest.TempPathFactory):
    """The one server shared by the session, freshly bootstrapped."""
    process = ServerProcess(server_binary, tmp_path_factory.mktemp("session-server"))
    banner = process.start()
    assert banner is not None, "first start on an empty data dir printed no bootstrap banner"
    try:
        yield process
    finally:
        if process.running:
            process.stop()
        process.kill()


@pytest.fixture
def pristine_server(server_binary: Path, tmp_path: Path):
    """A server of one's own on an empty data directory (not started; the test starts and stops it)."""
    process = ServerProcess(server_binary, tmp_path / "pristine", log_level="debug")
    try:
        yield process
    finally:
        process.kill()

# =================================================================================================================
# Secrets and IDs, as the tests make them (shared by the server and CLI suites)
# =================================================================================================================

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def checksum_ok(secret: str) -> bool:
    """The offline check of a secret: base62 CRC-32 of `cfs_` and the 40 random characters."""
    return base62(zlib.crc32(secret[:44].encode()), 6) == secret[44:]


def well_formed_wrong_secret() -> str:
    """A secret with a valid format and checksum that belongs to no token."""
    body = "cfs_" + "".join(BASE62[b % 62] for b in os.urandom(40))
    return body + base62(zlib.crc32(body.encode()), 6)


def bad_checksum(secret: str) -> str:
    """`secret` with its last checksum character changed."""
    return secret[:-1] + ("0" if secret[-1] != "0" else "1")


def unknown_token_id() -> str:
    return "".join(BASE62[b % 62] for b in os.urandom(22))


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"
