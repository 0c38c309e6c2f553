"""A fake kube-apiserver for the Kubernetes end-to-end tests: just enough for `kubectl auth whoami`.

It serves HTTPS with a certificate of its own CA (the cluster's `ca_bundle`), records the bearer token of every
request, authenticates it the way a kube-apiserver configured from `cloudfleet clusters auth-config` would, and
answers `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` with the user, `system:authenticated` appended to
the groups as the real API server does. Anything unauthenticated gets the API server's 401 Status.

Three authenticators, each built only from the files `auth-config` wrote:

- `WebhookAuthenticator` reads `webhook.kubeconfig` (current-context → server URL, CA data, bearer credential) and
  POSTs a TokenReview (built with the official client's models) to that exact URL, as
  `--authentication-token-webhook-config-file` and `--authentication-token-webhook-version=v1` make it do: a non-2xx
  answer, a body that is not a TokenReview of the request's apiVersion, `authenticated: false` or an empty audience
  intersection all mean "not authenticated". Unlike a real API server it caches nothing, so a refusal by the webhook
  shows at once (the cache TTL is the API server's business, not Cloudfleet's).
- `OIDCFlagsAuthenticator` reads `kube-apiserver-oidc.flags` and verifies JWTs as those `--oidc-*` flags say: the
  discovery document fetched over HTTPS from `<issuer>/.well-known/openid-configuration` with `--oidc-ca-file`, its
  `issuer` equal to the flag, keys from its `jwks_uri`, only `--oidc-signing-algs`, `aud` containing the client ID,
  every `--oidc-required-claim`, the user name from `--oidc-username-claim` with `--oidc-username-prefix` (`-` means
  none; unset means `<issuer>#` unless the claim is `email`), groups from `--oidc-groups-claim` with
  `--oidc-groups-prefix`. The flags map no UID, so the user has none, exactly as with a real API server.
- `AuthenticationConfigAuthenticator` reads `authentication-config.yaml` (`--authentication-config`): the same JWT
  checks from `jwt[0].issuer` (url, audiences, certificateAuthority PEM), then `claimValidationRules`,
  `claimMappings` (username/groups by claim + prefix or CEL expression, uid by claim or expression, extra by CEL) and
  `userValidationRules`, with CEL evaluated by `cel-python` (plain CEL: enough for these expressions, which use no
  Kubernetes-only library function).
"""

from __future__ import annotations

import base64
import json
import shlex
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import requests
import yaml

import kube_models

SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
# What a kube-apiserver puts into spec.audiences: its API audiences, by default the service-account issuer.
DEFAULT_API_AUDIENCES = ["https://kubernetes.default.svc.cluster.local"]


@dataclass
class UserInfo:
    username: str
    uid: str
    groups: tuple[str, ...]
    extra: dict[str, list[str]] = field(default_factory=dict)


class Refused(Exception):
    """Why a token was not authenticated (kept for the test's failure messages; never sent to the client)."""


# ---------------------------------------------------------------------------------------------------------------
# Authenticators


class WebhookAuthenticator:
    """`--authentication-token-webhook-config-file=webhook.kubeconfig --authentication-token-webhook-version=v1`."""

    def __init__(self, kubeconfig: Path, *, version: str = "v1", api_audiences: list[str] | None = None):
        config = yaml.safe_load(kubeconfig.read_text())
        contexts = {c["name"]: c["context"] for c in config["contexts"]}
        context = contexts[config["current-context"]]
        cluster = {c["name"]: c["cluster"] for c in config["clusters"]}[context["cluster"]]
        user = {u["name"]: u["user"] for u in config["users"]}[context["user"]]
        self.url = cluster["server"]
        self.credential = user["token"]
        self.api_version = f"authentication.k8s.io/{version}"
        self.api_audiences = list(api_audiences or DEFAULT_API_AUDIENCES)
        self._ca = None
        if "certificate-authority-data" in cluster:
            self._ca = tempfile.NamedTemporaryFile("w", suffix=".crt", delete=False)
            self._ca.write(base64.b64decode(cluster["certificate-authority-data"]).decode())
            self._ca.close()
        self.exchanges: list[tuple[dict, int, str]] = []  # (request, HTTP status, response text)

    def close(self) -> None:
        if self._ca is not None:
            Path(self._ca.name).unlink(missing_ok=True)

    def authenticate(self, token: str) -> UserInfo:
        request = kube_models.token_review(token, api_version=self.api_version, audiences=self.api_audiences)
        try:
            response = requests.post(self.url, json=request, timeout=30, verify=self._ca.name if self._ca else True,
                                     headers={"Authorization": f"Bearer {self.credential}", "Accept": "application/json"})
        except requests.RequestException as error:
            raise Refused(f"webhook unreachable: {error!r}") from None
        self.exchanges.append((request, response.status_code, response.text))
        if not 200 <= response.status_code < 300:
            raise Refused(f"webhook answered HTTP {response.status_code}: {response.text[:300]}")
        try:
            body = response.json()
        except ValueError:
            raise Refused(f"webhook answered something that is not JSON: {response.text[:300]}") from None
        if body.get("kind") != "TokenReview" or body.get("apiVersion") != self.api_version:
            raise Refused(f"webhook answered {body.get('apiVersion')}/{body.get('kind')} to a {self.api_version} TokenReview")
        review = kube_models.parse_token_review(body)
        status = review.status
        if status is None or not status.authenticated:
            raise Refused(f"webhook: not authenticated ({status.error if status else 'no status'})")
        if status.audiences:
            if not set(status.audiences) & set(self.api_audiences):
                raise Refused(f"webhook audiences {status.audiences} do not intersect {self.api_audiences}")
        user = status.user
        if user is None or not user.username:
            raise Refused("webhook authenticated a user without a name")
        return UserInfo(user.username, user.uid or "", tuple(user.groups or ()), dict(user.extra or {}))


@dataclass
class OIDCFlags:
    issuer_url: str
    client_id: str
    username_claim: str = "sub"
    username_prefix: str | None = None
    groups_claim: str | None = None
    groups_prefix: str = ""
    required_claims: dict[str, str] = field(default_factory=dict)
    signing_algs: list[str] = field(default_factory=lambda: ["RS256"])
    ca_file: str | None = None

    @classmethod
    def parse(cls, text: str) -> "OIDCFlags":
        """The `--oidc-*` flags of a flags file (one flag a line; `#` comments)."""
        values: dict[str, list[str]] = {}
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            for word in shlex.split(line):
                assert word.startswith("--oidc-") and "=" in word, f"not an --oidc-* flag: {word!r}"
                name, value = word[2:].split("=", 1)
                values.setdefault(name, []).append(value)
        known = {"oidc-issuer-url", "oidc-client-id", "oidc-username-claim", "oidc-username-prefix", "oidc-groups-claim",
                 "oidc-groups-prefix", "oidc-required-claim", "oidc-signing-algs", "oidc-ca-file"}
        assert set(values) <= known, f"unknown flags: {set(values) - known}"
        for name, given in values.items():
            assert name == "oidc-required-claim" or len(given) == 1, f"--{name} given {len(given)} times"
        one = {name: given[0] for name, given in values.items()}
        required = {}
        for pair in values.get("oidc-required-claim", []):
            key, value = pair.split("=", 1)
            required[key] = value
        return cls(
            issuer_url=one["oidc-issuer-url"], client_id=one["oidc-client-id"], username_claim=one.get("oidc-username-claim", "sub"),
            username_prefix=one.get("oidc-username-prefix"), groups_claim=one.get("oidc-groups-claim"),
            groups_prefix=one.get("oidc-groups-prefix", ""), required_claims=required,
            signing_algs=one.get("oidc-signing-algs", "RS256").split(","), ca_file=one.get("oidc-ca-file"))


class JWTVerifier:
    """What every kube-apiserver JWT authenticator does first: discovery at `<issuer>/.well-known/openid-configuration`
    over HTTPS (its `issuer` must equal the configured one), keys from `jwks_uri` (fetched again once for an unknown
    kid), the signature with an allowed algorithm, `iss`, `aud` (one of `audiences`) and `exp`."""

    def __init__(self, issuer_url: str, audiences: list[str], algorithms: list[str], verify: str | bool):
        if not issuer_url.startswith("https://"):
            raise ValueError(f"the issuer must be https: {issuer_url}")
        self.issuer_url = issuer_url
        self.audiences = audiences
        self.algorithms = algorithms
        self.verify = verify
        self._jwks: jwt.PyJWKSet | None = None
        self._lock = threading.Lock()

    def _discover(self) -> dict:
        url = self.issuer_url + "/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=10, verify=self.verify)
        except requests.RequestException as error:
            raise Refused(f"discovery unreachable: {error!r}") from None
        if response.status_code != 200:
            raise Refused(f"discovery answered {response.status_code}")
        document = response.json()
        if document.get("issuer") != self.issuer_url:
            raise Refused(f"discovery issuer {document.get('issuer')!r} is not the configured issuer {self.issuer_url!r}")
        if not str(document.get("jwks_uri", "")).startswith("https://"):
            raise Refused(f"discovery has no https jwks_uri: {document.get('jwks_uri')!r}")
        return document

    def _keys(self, refresh: bool) -> jwt.PyJWKSet:
        with self._lock:
            if self._jwks is None or refresh:
                jwks_uri = self._discover()["jwks_uri"]
                try:
                    response = requests.get(jwks_uri, timeout=10, verify=self.verify)
                except requests.RequestException as error:
                    raise Refused(f"JWKS unreachable: {error!r}") from None
                if response.status_code != 200:
                    raise Refused(f"JWKS answered {response.status_code}")
                self._jwks = jwt.PyJWKSet.from_dict(response.json())
            return self._jwks

    def _key(self, kid: str | None) -> jwt.PyJWK:
        for refresh in (False, True):
            for key in self._keys(refresh).keys:
                if kid is None or key.key_id == kid:
                    return key
        raise Refused(f"no key {kid!r} in the JWKS")

    def claims(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Refused(f"not a JWT: {error}") from None
        if header.get("alg") not in self.algorithms:
            raise Refused(f"alg {header.get('alg')!r} is not allowed ({self.algorithms})")
        key = self._key(header.get("kid"))
        try:
            return jwt.decode(token, key.key, algorithms=self.algorithms, audience=self.audiences, issuer=self.issuer_url,
                              options={"require": ["iss", "aud", "exp"]}, leeway=0)
        except jwt.PyJWTError as error:
            raise Refused(f"JWT refused: {error}") from None


class OIDCFlagsAuthenticator:
    """The kube-apiserver's OIDC authenticator configured by `--oidc-*` flags (a JWT authenticator without CEL)."""

    def __init__(self, flags: OIDCFlags, *, ca_file: Path | None):
        """`ca_file` is where the file named by `--oidc-ca-file` is on this machine."""
        assert (flags.ca_file is None) == (ca_file is None), "--oidc-ca-file and the local CA file go together"
        self.flags = flags
        self.verifier = JWTVerifier(flags.issuer_url, [flags.client_id], flags.signing_algs, str(ca_file) if ca_file else True)

    def authenticate(self, token: str) -> UserInfo:
        flags = self.flags
        claims = self.verifier.claims(token)
        for name, value in flags.required_claims.items():
            if claims.get(name) != value:
                raise Refused(f"required claim {name}={value!r} not met ({claims.get(name)!r})")
        username = claims.get(flags.username_claim)
        if not isinstance(username, str) or not username:
            raise Refused(f"no string claim {flags.username_claim!r}")
        prefix = flags.username_prefix
        if prefix is None:
            prefix = "" if flags.username_claim == "email" else flags.issuer_url + "#"
        elif prefix == "-":
            prefix = ""
        groups: list[str] = []
        if flags.groups_claim and flags.groups_claim in claims:
            groups = [flags.groups_prefix + g for g in _strings(claims[flags.groups_claim], flags.groups_claim)]
        return UserInfo(prefix + username, "", tuple(groups), {})


def _strings(value, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(g, str) for g in value):
        return value
    raise Refused(f"claim {name!r} is not a string or a list of strings")


# Algorithms a structured JWT authenticator accepts (no HS*, no EdDSA).
STRUCTURED_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"]


class AuthenticationConfigAuthenticator:
    """`--authentication-config`: the first (only) `jwt` authenticator of an AuthenticationConfiguration."""

    def __init__(self, config: dict):
        import celpy  # cel-python

        assert config.get("kind") == "AuthenticationConfiguration", config.get("kind")
        assert len(config.get("jwt", [])) == 1, "one JWT authenticator expected"
        self.jwt = config["jwt"][0]
        issuer = self.jwt["issuer"]
        self._ca = None
        verify: str | bool = True
        if issuer.get("certificateAuthority"):
            self._ca = tempfile.NamedTemporaryFile("w", suffix=".crt", delete=False)
            self._ca.write(issuer["certificateAuthority"])
            self._ca.close()
            verify = self._ca.name
        audiences = issuer["audiences"]
        assert len(audiences) == 1 or issuer.get("audienceMatchPolicy") == "MatchAny", "several audiences need MatchAny"
        self.verifier = JWTVerifier(issuer["url"], audiences, STRUCTURED_ALGORITHMS, verify)
        self._cel = celpy.Environment()
        self._celpy = celpy

    def close(self) -> None:
        if self._ca is not None:
            Path(self._ca.name).unlink(missing_ok=True)

    def _eval(self, expression: str, **variables):
        program = self._cel.program(self._cel.compile(expression))
        try:
            result = program.evaluate({name: self._celpy.json_to_cel(value) for name, value in variables.items()})
        except self._celpy.CELEvalError as error:
            raise Refused(f"CEL {expression!r} failed: {error}") from None
        return _plain(result)

    def _mapping(self, mapping: dict, claims: dict, what: str):
        if "expression" in mapping:
            return self._eval(mapping["expression"], claims=claims)
        claim = mapping["claim"]
        if "prefix" not in mapping and what in ("username", "groups"):
            raise Refused(f"claimMappings.{what}.prefix is required with claim")
        return claims.get(claim), mapping.get("prefix", "")

    def authenticate(self, token: str) -> UserInfo:
        claims = self.verifier.claims(token)
        for rule in self.jwt.get("claimValidationRules", []):
            if "expression" in rule:
                if self._eval(rule["expression"], claims=claims) is not True:
                    raise Refused(rule.get("message") or f"claim rule {rule['expression']!r} failed")
            elif claims.get(rule["claim"]) != rule["requiredValue"]:
                raise Refused(f"claim {rule['claim']}={rule['requiredValue']!r} not met ({claims.get(rule['claim'])!r})")
        mappings = self.jwt["claimMappings"]
        username = self._mapping(mappings["username"], claims, "username")
        if isinstance(username, tuple):
            value, prefix = username
            username = prefix + value if isinstance(value, str) else None
        if not isinstance(username, str) or not username:
            raise Refused("no user name")
        groups: list[str] = []
        if "groups" in mappings:
            mapped = self._mapping(mappings["groups"], claims, "groups")
            if isinstance(mapped, tuple):
                value, prefix = mapped
                groups = [prefix + g for g in _strings(value, mappings["groups"]["claim"])] if value is not None else []
            elif mapped not in ("", None):
                groups = _strings(mapped, "groups expression")
        uid = ""
        if "uid" in mappings:
            mapped = self._mapping(mappings["uid"], claims, "uid")
            uid = mapped[0] if isinstance(mapped, tuple) else mapped
            if not isinstance(uid, str):
                raise Refused(f"uid is not a string: {uid!r}")
        extra: dict[str, list[str]] = {}
        for item in mappings.get("extra", []):
            value = self._eval(item["valueExpression"], claims=claims)
            values = [value] if isinstance(value, str) else list(value or [])
            if values and values != [""]:
                extra[item["key"]] = values
        user = {"username": username, "uid": uid, "groups": groups, "extra": extra}
        for rule in self.jwt.get("userValidationRules", []):
            if self._eval(rule["expression"], user=user) is not True:
                raise Refused(rule.get("message") or f"user rule {rule['expression']!r} failed")
        return UserInfo(username, uid, tuple(groups), extra)


def _plain(value):
    """A CEL result as plain Python (cel-python answers its own str/bool/list/map types)."""
    from celpy import celtypes

    if isinstance(value, (bool, celtypes.BoolType)):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class RefuseAll:
    def authenticate(self, token: str) -> UserInfo:
        raise Refused("no authenticator configured")


# ---------------------------------------------------------------------------------------------------------------
# The server


@dataclass
class Received:
    """One request the fake API server received."""

    method: str
    path: str
    token: str | None
    user: UserInfo | None
    refusal: str | None


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason,
            "code": code}


def _is_self_subject_review(content_type: str, body: bytes) -> bool:
    """kubectl sends built-in types as protobuf (magic `k8s\\0`, then the TypeMeta) and accepts JSON back; other
    clients send JSON."""
    if content_type.startswith("application/vnd.kubernetes.protobuf"):
        return body.startswith(b"k8s\x00") and b"authentication.k8s.io/v1" in body[:64] and b"SelfSubjectReview" in body[:64]
    try:
        return json.loads(body or b"{}").get("kind") == "SelfSubjectReview"
    except (ValueError, AttributeError):
        return False


class _Handler(BaseHTTPRequestHandler):
    server: "_HTTPSServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake = self.server.fake
        header = self.headers.get("Authorization") or ""
        token = header[len("Bearer "):] if header.startswith("Bearer ") else None
        user, refusal = None, None
        if token is None:
            refusal = "no bearer token"
        else:
            try:
                user = fake.authenticator.authenticate(token)
            except Refused as error:
                refusal = str(error)
            except Exception as error:  # an authenticator error is a 401, as in the API server
                refusal = f"authenticator error: {error!r}"
        fake.record(Received(self.command, self.path, token, user, refusal))
        if user is None:
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        path = self.path.split("?", 1)[0]
        if self.command == "POST" and path == SELF_SUBJECT_REVIEWS:
            if not _is_self_subject_review(self.headers.get("Content-Type") or "", body):
                self._send(400, _status(400, "BadRequest", "the body is not a SelfSubjectReview"))
                return
            if "json" not in (self.headers.get("Accept") or "application/json"):
                self._send(406, _status(406, "NotAcceptable", "this fake answers JSON only"))
                return
            groups = list(user.groups)
            if "system:authenticated" not in groups:
                groups.append("system:authenticated")
            self._send(201, kube_models.self_subject_review(user.username, user.uid, groups, user.extra))
            return
        self._send(404, _status(404, "NotFound", "the server could not find the requested resource"))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _HTTPSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: "FakeAPIServer", context: ssl.SSLContext):
        self.fake = fake
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake happens in the request's own thread, never in the accepting loop.
        request.settimeout(30)
        try:
            wrapped = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(wrapped, client_address)


class FakeAPIServer:
    """The fake kube-apiserver, serving on 127.0.0.1 in a thread of this process until `close()`."""

    def __init__(self, cert: Path, key: Path):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self._authenticators: list = [RefuseAll()]
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server = _HTTPSServer(self, context)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def authenticator(self):
        """How the server authenticates bearer tokens (refuses all until set); every one set is closed with the server."""
        return self._authenticators[-1]

    @authenticator.setter
    def authenticator(self, authenticator) -> None:
        self._authenticators.append(authenticator)

    def record(self, seen: Received) -> None:
        with self._lock:
            self.requests.append(seen)

    def tokens(self) -> list[str]:
        """The bearer tokens of every request so far, in order."""
        with self._lock:
            return [r.token for r in self.requests if r.token is not None]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        for authenticator in self._authenticators:
            if hasattr(authenticator, "close"):
                authenticator.close()
