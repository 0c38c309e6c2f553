"""Property-based fuzzing of the whole HTTP API with Schemathesis, against the real `cloudfleet-server` binary.

A server of its own (SQLite in a temporary data directory, never the session server) is fuzzed from the OpenAPI
document it serves at `/v1/openapi.yaml`. Every operation gets the document's examples, the coverage phase's
boundary and type-violating values, and up to `CLOUDFLEET_FUZZ_EXAMPLES` generated cases, valid and invalid
(Schemathesis' positive and negative modes); every answer must pass `CHECKS`: no 5xx, a documented status code,
Content-Type and headers, a body that conforms to the documented schema, a request that breaks the document refused
with 4xx, and credentials enforced. A stateful run then follows the document's links (create a token or cluster,
then read, change, rotate or delete it), which also checks that what was deleted stays gone.

Who calls:
* `test_fuzz_as_administrator`: every operation. `/v1` with HTTP Basic `token_id:secret` of the bootstrap
  Administrator token; `/v1/auth/token` with the same client credentials as HTTP Basic (the fuzzed form fields
  come on top); the TokenReview webhook with the webhook credential (`cfwh_…`) of a cluster registered for the
  run; `/v1/secrets/report` and `/metrics` with service credentials (`cfsvc_…`) of kind `secret-scanner` and
  `metrics`, made with `cloudfleet-server admin create-service-credential`; the unauthenticated operations as
  they are.
* `test_fuzz_as_user`: the operations that take an API token, with a **User** token created through the API and
  presented as a Bearer access token from `POST /v1/auth/token` (the other way to authenticate), minted again
  before it can expire.
* `test_fuzz_stateful_as_administrator`: the links, as the Administrator.

Path IDs: a generated token or cluster ID hardly ever names one that exists, so the body of such a call would only
ever meet a `404`. In three cases out of four a `before_call` hook aims the call at a resource that exists (the
fourth keeps the generated ID): reads at the run's own token and cluster, changes and deletions at a throwaway token
or cluster made for that one call. The run's own credentials are never changed or destroyed: `updateToken`,
`deleteToken` and `regenerateTokenSecret` aimed at the Administrator or User token, and `deleteCluster` and
`issueClusterWebhookCredential` aimed at the run's cluster (its ID in any case), go to a throwaway instead, in the
stateful run too. Everything else, the organization's token policy included, is fair game: throwaway tokens expire
30 minutes ahead, which every policy accepts. Each stateful scenario starts from the run's first policy and deletes
the clusters it created, so that a scenario Hypothesis replays gets the same answers (see `Workflow`).

Reproducible: the seed is `CLOUDFLEET_FUZZ_SEED` (default `FUZZ_SEED_DEFAULT`) and the number of generated examples
per operation (and of stateful scenarios) `CLOUDFLEET_FUZZ_EXAMPLES` (default 30); both are printed, and quoted in
every failure. There is no example database, so the same seed and binary give the same cases. For instance:

    CLOUDFLEET_FUZZ_SEED=7 CLOUDFLEET_FUZZ_EXAMPLES=100 python3 -m pytest Tests/e2e/test_fuzz_e2e.py -q

`CLOUDFLEET_FUZZ_KEEP_GOING=1` collects every distinct failure instead of stopping each operation at its first
(listed by `test_no_failure_collected` at the end), and `CLOUDFLEET_FUZZ_STATS=1` prints how often each operation
answered each status.
"""

from __future__ import annotations

import base64
import collections
import os
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import checks as st_checks
from schemathesis.config import ChecksConfig, HealthCheck, SanitizationConfig

from conftest import Seen, ServerProcess

FUZZ_SEED_DEFAULT = 20251129
SEED = int(os.environ.get("CLOUDFLEET_FUZZ_SEED") or FUZZ_SEED_DEFAULT)
EXAMPLES = int(os.environ.get("CLOUDFLEET_FUZZ_EXAMPLES") or 30)
STEPS = 10  # calls at most in one stateful scenario
KEEP_GOING = os.environ.get("CLOUDFLEET_FUZZ_KEEP_GOING", "") not in ("", "0")
SHOW_STATS = os.environ.get("CLOUDFLEET_FUZZ_STATS", "") not in ("", "0")
REPRODUCE = f"CLOUDFLEET_FUZZ_SEED={SEED} CLOUDFLEET_FUZZ_EXAMPLES={EXAMPLES} python3 -m pytest Tests/e2e/test_fuzz_e2e.py"

# Every answer of every case must pass these. Left out, because the API fails them by design:
# * `positive_data_acceptance`: the document's schemas cannot say everything the server checks. A schema-valid
#   request is still refused, as documented, for a cursor the list did not return (`400`), a CIDR that is no
#   network, an expiry in the past or beyond the policy, a grace period beyond 7d, a `ca_bundle` that is not PEM
#   (`422`), a name already taken (`409`).
# * `unsupported_method`: an undocumented method on a documented path answers `404`, not `405` (Hummingbird's
#   router; asserted by test_server_e2e's `method-not-routed`).
CHECKS = [
    st_checks.not_a_server_error,  # no 5xx
    st_checks.status_code_conformance,  # the status code is documented for the operation
    st_checks.content_type_conformance,  # the Content-Type is documented for that status
    st_checks.response_headers_conformance,  # required headers are there and match their schemas
    st_checks.response_schema_conformance,  # the body validates against the documented schema
    st_checks.negative_data_rejection,  # a request that breaks the document is refused with 4xx
    st_checks.ignored_auth,  # an operation that needs credentials refuses none and wrong ones (see `filter_failure`)
]
# What counts as refusing a request that breaks the document: Schemathesis' own list with `413` added, the documented
# answer (`ContentTooLarge`) to a body over the server's 64 KiB limit, which is how a generated array far beyond its
# `maxItems` is refused first. (Schemathesis' list keeps `5xx`, so that a server error is reported once, by
# `not_a_server_error`.)
NEGATIVE_DATA_REFUSED_WITH = [*ChecksConfig().negative_data_rejection.expected_statuses, "413"]
# The stateful run also checks what only a sequence of calls shows.
STATEFUL_CHECKS = CHECKS + [
    st_checks.use_after_free,  # a deleted token or cluster is gone for good from every linked operation
    st_checks.ensure_resource_availability,  # a created token or cluster can be read right after
]

# The operations that do not take an API token: fuzzed in the Administrator run only, with the credentials they need.
NOT_API_TOKEN_OPERATIONS = [
    "reviewClusterToken",
    "issueAccessToken",
    "reportLeakedSecrets",
    "getOpenAPIDocument",
    "health",
    "ready",
    "getMetrics",
    "getOpenIDConfiguration",
    "getJWKS",
]
ACCESS_TOKEN_RENEWAL = 600.0  # seconds after which the User run mints a new access token (they live 900 s)


# =================================================================================================================
# The fuzzed server and the credentials the fuzzer uses
# =================================================================================================================


def basic(token_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{token_id}:{secret}".encode()).decode()


def in_30_minutes() -> str:
    return (datetime.now(timezone.utc) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def operation_id(operation) -> str:
    return operation.definition.raw.get("operationId", operation.label)


@dataclass
class FuzzWorld:
    server: ServerProcess
    admin_id: str
    admin_secret: str
    user_id: str
    user_secret: str
    cluster_id: str
    webhook_credential: str
    scanner_credential: str
    metrics_credential: str
    retarget_ids: bool = True  # see `retarget`
    throwaways: int = 0
    _access_token: str = ""
    _access_token_at: float = 0.0

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def admin_auth(self) -> dict[str, str]:
        return {"Authorization": basic(self.admin_id, self.admin_secret)}

    @property
    def user_access_token(self) -> str:
        if time.monotonic() - self._access_token_at > ACCESS_TOKEN_RENEWAL:
            grant = requests.post(self.url + "/v1/auth/token", data={"grant_type": "client_credentials"}, timeout=15,
                                  headers={"Authorization": basic(self.user_id, self.user_secret)})
            assert grant.status_code == 200, f"the User token got no access token: {grant.status_code} {grant.text}"
            self._access_token = Seen.access_token(grant.json()["access_token"])
            self._access_token_at = time.monotonic()
        return self._access_token

    def reset_policy(self) -> None:
        """Back to the policy the run started with: tokens without an expiry allowed, lifetimes unbounded."""
        reset = requests.patch(self.url + "/v1/organization", headers=self.admin_auth, timeout=15,
                               json={"max_token_lifetime": None, "require_expiry": False})
        assert reset.status_code == 200, reset.text

    def throwaway_token(self) -> str:
        self.throwaways += 1
        response = requests.post(self.url + "/v1/tokens", headers=self.admin_auth, timeout=15, json={
            "name": f"fuzz throwaway {self.throwaways}", "role": "User", "expires_at": in_30_minutes()})
        assert response.status_code == 201, f"no throwaway token: {response.status_code} {response.text}"
        Seen.secret(response.json()["secret"])
        return response.json()["id"]

    def throwaway_cluster(self) -> str:
        self.throwaways += 1
        response = requests.post(self.url + "/v1/clusters", headers=self.admin_auth, timeout=15, json={
            "name": f"fuzz-throwaway-{uuid.uuid4().hex[:12]}", "api_endpoint": "https://127.0.0.1:6443"})
        assert response.status_code == 201, f"no throwaway cluster: {response.status_code} {response.text}"
        return response.json()["id"]

    def headers_for(self, operation_id: str, identity: str) -> dict[str, str]:
        """The credentials a call of `operation_id` presents in the run of `identity`."""
        if operation_id == "reviewClusterToken":
            return {"Authorization": "Bearer " + self.webhook_credential}
        if operation_id == "reportLeakedSecrets":
            return {"Authorization": "Bearer " + self.scanner_credential}
        if operation_id == "getMetrics":
            return {"Authorization": "Bearer " + self.metrics_credential}
        if operation_id == "issueAccessToken":
            return self.admin_auth
        if operation_id in NOT_API_TOKEN_OPERATIONS:
            return {}
        if identity == "user":
            return {"Authorization": "Bearer " + self.user_access_token}
        return self.admin_auth

    def retarget(self, operation_id: str, path_parameters: dict) -> None:
        """Aims a call with a path ID at a resource that exists in three cases out of four, and never at the run's
        own tokens and cluster when the call would change or destroy them."""
        target = path_parameters.get("id")
        if not isinstance(target, str):
            return
        # The stateful run takes its IDs from the links of earlier answers: they are only protected, never replaced.
        keep_generated = not self.retarget_ids or zlib.crc32(target.encode("utf-8", "surrogatepass")) % 4 == 0
        if operation_id in ("updateToken", "deleteToken", "regenerateTokenSecret"):
            if target.strip() in (self.admin_id, self.user_id) or not keep_generated:
                path_parameters["id"] = self.throwaway_token()
        elif operation_id == "getToken":
            # `self` breaks the TokenId pattern but names a route of its own (`getCurrentToken`, 200): a negative
            # case that draws it is aimed at a real token instead.
            if not keep_generated or target == "self":
                path_parameters["id"] = self.admin_id
        elif operation_id in ("deleteCluster", "issueClusterWebhookCredential"):
            if target.strip().lower() == self.cluster_id or not keep_generated:
                path_parameters["id"] = self.throwaway_cluster()
        elif operation_id in ("getCluster", "issueClusterToken", "reviewClusterToken"):
            if not keep_generated:
                path_parameters["id"] = self.cluster_id


_WORLD: dict[str, FuzzWorld] = {}  # the running module's world, for the global `before_call` hook


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    """Runs on every call, after generation (Schemathesis only runs `before_call` hooks registered globally).
    Schemathesis revalidates what it changes: a negative case whose bad path ID was replaced counts as positive."""
    world = _WORLD.get("world")
    if world is None or case.operation.schema.location != world.url + "/v1/openapi.yaml":
        return
    world.retarget(operation_id(case.operation), case.path_parameters or {})


def filter_failure(context, failure, case, response) -> bool:
    """`ignored_auth` probes every authenticated success once without credentials and once with wrong ones. All those
    failed authentications come from 127.0.0.1, and after 30 of them the server answers further failures with `429`
    (`rate_limited`, documented for every such operation) instead of `401`, as its brute-force limiter should. Such
    a probe still shows the credentials were refused, so only that failure is dropped; a probe that was let through
    (2xx) never is."""
    return not (failure.code == "ST401" and "got `429 Too Many Requests`" in failure.message)


class _Uncaptured:
    """Lets a module fixture print to the terminal even while pytest captures output."""

    def __init__(self, request: pytest.FixtureRequest):
        self.capture = request.config.pluginmanager.getplugin("capturemanager")

    def print(self, text: str) -> None:
        if self.capture is None:
            print(text)
            return
        with self.capture.global_and_fixture_disabled():
            print(text)


@pytest.fixture(scope="module")
def fuzz_world(server_binary: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    server = ServerProcess(server_binary, tmp_path_factory.mktemp("fuzz-server"))
    banner = server.start()
    assert banner is not None, "first start on an empty data directory printed no bootstrap banner"
    terminal = _Uncaptured(request)
    try:
        # Made before any service call, so that the server's few-seconds cache of service credentials has them.
        scanner = Seen.service_credential(server.admin("create-service-credential", "--kind", "secret-scanner",
                                                       "--name", "fuzz-scanner")["credential"])
        metrics = Seen.service_credential(server.admin("create-service-credential", "--kind", "metrics",
                                                       "--name", "fuzz-prometheus")["credential"])
        admin = {"Authorization": basic(banner.token_id, banner.secret)}
        created = requests.post(server.url + "/v1/tokens", headers=admin, timeout=15,
                                json={"name": "fuzz user", "role": "User"})
        assert created.status_code == 201, created.text
        user = created.json()
        Seen.secret(user["secret"])
        cluster = requests.post(server.url + "/v1/clusters", headers=admin, timeout=15,
                                json={"name": "fuzz-cluster", "api_endpoint": "https://127.0.0.1:6443"})
        assert cluster.status_code == 201, cluster.text
        cluster_id = cluster.json()["id"]
        webhook = requests.post(server.url + f"/v1/clusters/{cluster_id}/webhook-credential", headers=admin, timeout=15)
        assert webhook.status_code == 200, webhook.text
        world = FuzzWorld(server, banner.token_id, banner.secret, user["id"], user["secret"], cluster_id,
                          webhook.json()["credential"], scanner, metrics)
        _WORLD["world"] = world
        terminal.print(f"\nschemathesis {schemathesis.SCHEMATHESIS_VERSION} fuzzing {server.url}: seed {SEED} "
                       f"(CLOUDFLEET_FUZZ_SEED), {EXAMPLES} examples per operation (CLOUDFLEET_FUZZ_EXAMPLES)")
        yield world
        if SHOW_STATS:
            terminal.print("\nstatus codes of the answers that passed every check, by run and operation:\n" + "\n".join(
                f"  {run:13} {label:45} " + " ".join(f"{code}x{n}" for code, n in sorted(counts.items()))
                for (run, label), counts in sorted(STATS.items())))
    finally:
        _WORLD.pop("world", None)
        if server.running:
            server.stop()
        server.kill()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_world: FuzzWorld):
    """The document the server serves, with the run's seed and example budget."""
    schema = schemathesis.openapi.from_url(fuzz_world.url + "/v1/openapi.yaml", timeout=15)
    schema.config.update(base_url=fuzz_world.url, request_timeout=15,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    schema.config.seed = SEED
    schema.config.checks = ChecksConfig.from_dict(
        {"negative_data_rejection": {"expected-statuses": NEGATIVE_DATA_REFUSED_WITH}})
    # Credentials come from `headers_for`, not from generated security parameters.
    schema.config.generation.update(max_examples=EXAMPLES, database="none", with_security_parameters=False)
    schema.hook(filter_failure)  # registered by its name
    # Failure reports hide the credentials (the Authorization header) but nothing else: by default every key that
    # contains "token" would be hidden too, `max_token_lifetime`, the `token` filter and `spec.token` included.
    schema.config.output.sanitization = SanitizationConfig(keys_to_sanitize=("authorization",),
                                                           sensitive_markers=("authorization",))
    return schema


# =================================================================================================================
# The runs
# =================================================================================================================

STATS: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
COLLECTED: dict[tuple, str] = {}  # CLOUDFLEET_FUZZ_KEEP_GOING: every distinct failure, with how to reproduce it


def validated(run: str, case, validate) -> None:
    """Runs `validate()`, which raises the failures of one case; counts the answer's status when it passes."""
    try:
        status = validate()
    except st_checks.FailureGroup as group:
        if KEEP_GOING:
            for failure in group.exceptions:
                COLLECTED.setdefault((run, case.operation.label, failure.code, failure.title, failure.message),
                                     str(group.args[0]))
            return
        group.add_note(f"Reproduce the run: {REPRODUCE}")
        raise
    STATS[(run, case.operation.label)][status] += 1


def fuzz(case, world: FuzzWorld, identity: str) -> None:
    headers = world.headers_for(operation_id(case.operation), identity)
    validated(identity, case, lambda: case.call_and_validate(headers=headers, checks=CHECKS).status_code)


lazy_schema = schemathesis.pytest.from_fixture("fuzz_schema")


@lazy_schema.parametrize()
def test_fuzz_as_administrator(case, fuzz_world: FuzzWorld):
    fuzz(case, fuzz_world, "administrator")


@lazy_schema.exclude(operation_id=NOT_API_TOKEN_OPERATIONS).parametrize()
def test_fuzz_as_user(case, fuzz_world: FuzzWorld):
    fuzz(case, fuzz_world, "user")


def test_fuzz_stateful_as_administrator(fuzz_schema, fuzz_world: FuzzWorld):
    """Sequences of calls along the document's links, as the Administrator: `EXAMPLES` scenarios of at most `STEPS`
    calls, with the same seed."""
    class Workflow(fuzz_schema.as_state_machine()):
        """Hypothesis chooses each step among the links the answers so far allow, and replays the choices of earlier
        scenarios to explore around them: a scenario must get the same answers whenever it is replayed, or the run
        stops with `FlakyStrategyDefinition` (seed 31337 with 250 examples did). So each scenario starts from the same
        world: it gets the run's first policy back (a fuzzed policy that requires an expiry answers `422` to every
        creation without one), and the clusters it created are deleted when it ends (cluster names are unique in an
        organization: a replayed creation would answer `409`)."""
        rule_order_seed = SEED

        def setup(self):
            self.created_clusters: list[str] = []
            fuzz_world.reset_policy()

        def teardown(self):
            for cluster_id in self.created_clusters:
                deleted = requests.delete(f"{fuzz_world.url}/v1/clusters/{cluster_id}", headers=fuzz_world.admin_auth,
                                          timeout=15)
                assert deleted.status_code in (204, 404), deleted.text

        def after_call(self, response, case):
            super().after_call(response, case)
            if operation_id(case.operation) == "createCluster" and response.status_code == 201:
                self.created_clusters.append(response.json()["id"])

        def get_call_kwargs(self, case):
            return {"headers": fuzz_world.headers_for(operation_id(case.operation), "administrator")}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            def validate() -> int:
                case.validate_response(response, checks=STATEFUL_CHECKS, headers=kwargs.get("headers"),
                                       transport_kwargs=kwargs or None, recorder=self.recorder)
                return response.status_code

            validated("stateful", case, validate)

    settings = hypothesis.settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None, derandomize=False,
        suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink])
    fuzz_world.retarget_ids = False
    try:
        schemathesis.generation.stateful.run_state_machine_as_test(hypothesis.seed(SEED)(Workflow), settings=settings)
    except BaseException as error:
        error.add_note(f"Reproduce the run: {REPRODUCE}")
        raise
    finally:
        fuzz_world.retarget_ids = True


def test_fuzzed_server_survived(fuzz_world: FuzzWorld):
    """After the fuzzing the server still runs, and the run's own tokens, cluster and credentials still work."""
    server = fuzz_world.server
    assert server.running, f"the fuzzed server exited:\n{server.stderr_text()[-4000:]}"
    url = fuzz_world.url
    assert requests.get(url + "/readyz", timeout=15).status_code == 200
    me = requests.get(url + "/v1/tokens/" + fuzz_world.admin_id, headers=fuzz_world.admin_auth, timeout=15)
    assert me.status_code == 200 and me.json()["role"] == "Administrator", me.text
    user = requests.get(url + "/v1/tokens/" + fuzz_world.user_id, timeout=15,
                        headers={"Authorization": basic(fuzz_world.user_id, fuzz_world.user_secret)})
    assert user.status_code == 200 and user.json()["role"] == "User", user.text
    review = requests.post(url + f"/v1/clusters/{fuzz_world.cluster_id}/tokenreview", timeout=15,
                           headers={"Authorization": "Bearer " + fuzz_world.webhook_credential},
                           json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "x"}})
    assert review.status_code == 200 and review.json()["status"] == {"authenticated": False}, review.text
    scrape = requests.get(url + "/metrics", headers={"Authorization": "Bearer " + fuzz_world.metrics_credential},
                          timeout=15)
    assert scrape.status_code == 200 and "cloudfleet_authentications_total" in scrape.text, scrape.text[:300]
    # Nothing the fuzzing sent or received that is secret reached the log or the files at rest (stdout is left out:
    # its first-start banner shows the bootstrap secret by design).
    secrets = {fuzz_world.admin_secret, fuzz_world.user_secret, fuzz_world.webhook_credential,
               fuzz_world.scanner_credential, fuzz_world.metrics_credential, fuzz_world.user_access_token}
    blobs = {f"log {path.name}": path.read_bytes() for path in server.stderr_paths if path.exists()}
    blobs.update({f"file {path.name}": path.read_bytes() for path in server.data_dir.rglob("*") if path.is_file()})
    leaks = [f"{where}: {value[:10]}…" for where, blob in blobs.items() for value in secrets if value.encode() in blob]
    assert not leaks, "secrets in the fuzzed server's log or files:\n" + "\n".join(leaks)


def test_no_failure_collected():
    """With CLOUDFLEET_FUZZ_KEEP_GOING=1: every distinct failure the runs above collected."""
    if not KEEP_GOING:
        pytest.skip("only with CLOUDFLEET_FUZZ_KEEP_GOING=1 (otherwise each operation fails at its first failure)")
    report = [f"--- {run} {label}: {code} {title}\n{detail}" for (run, label, code, title, _), detail in COLLECTED.items()]
    assert not COLLECTED, f"{len(COLLECTED)} distinct failures ({REPRODUCE}):\n" + "\n".join(report)
