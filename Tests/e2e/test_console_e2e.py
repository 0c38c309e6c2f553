"""Browser tests of the web console (`docs/console.md`) against the real `cloudfleet-server` binary.

A real headless Chromium, driven by Selenium, signs people in through a local OpenID provider (`oidc-provider-mock`)
or a break-glass link and follows the console steps of the seed's API tokens document: navigate to the API tokens
page, click Create, enter a name, choose a role, Save, copy the ID and secret (through the Copy buttons and the
clipboard), use them against the API; regenerate; delete. Around that flow: a User's read-only view, CSRF and a
cross-site form, sign-out, single-use links, the separation of API tokens and console sessions, security headers
and cookies, the Users page with its audit trail, a page without JavaScript, a phone-sized window and the keyboard,
and no console secret in the server's logs or files. Elements are found exactly by the IDs and classes
`docs/console.md` names. What a browser cannot show (status codes, headers, forged posts) is checked with
`requests`, carrying the browser's own cookies.

One server (SQLite, a fresh data directory), one OpenID provider and one signed-in Administrator browser serve the
whole module; other browsers are started by the tests that need them. Every step's screenshot is saved as
`NN-<browser>-<step>.png` in `$CLOUDFLEET_ARTIFACTS_DIR/console` (else `Tests/e2e/artifacts/console`), and on a
failure every open browser's screenshot and page source are saved there too. Missing Chromium fails the module
(`scripts/test` installs Debian's `chromium` and `chromium-driver`).

Run: `CLOUDFLEET_SERVER_BIN=.build/debug/cloudfleet-server CLOUDFLEET_CLI_BIN=.build/debug/cloudfleet \
      python3 -m pytest Tests/e2e/test_console_e2e.py -q -s`
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import Seen, ServerProcess
from console_support import (Browser, ConsoleClient, OIDCProvider, OtherSite, Screenshots, admin, artifacts_dir,
                             authorize_at_provider, browser_binaries, code_text, cookie_attributes, cookies_set_by,
                             create_user, csrf_of, form_data, new_chrome, parse_html, redirect_path,
                             refused_to_anonymous, set_cookies, sign_in_link)
from hygiene_support import (SECRET_RE, TOKEN_ID_RE, Cred, api, audit_events, auth, bearer, data_files, error_of,
                             list_tokens, mint)

ADMIN_EMAIL = "admin@example.com"
ADMIN_SUB = "admin-subject-7f3a"  # the provider's subject of the Administrator, bound on the first SSO sign-in
VIEWER_EMAIL = "viewer@example.com"
VIEWER_SUB = "viewer-subject-52c1"
CLIENT_ID = "cloudfleet-console"
SESSION_COOKIE = "cf_session"  # plain HTTP on loopback (`__Host-cf_session` over TLS)
SESSION_RE = re.compile(r"^cfsess_[0-9A-Za-z]{46}$")
LINK_RE = re.compile(r"^http://127\.0\.0\.1:\d+/console/sign-in/link\?token=cfsl_[0-9A-Za-z]+$")
NOT_SHOWN_AGAIN = re.compile(r"\b(not|never|won't|cannot|can't)\b.*\bagain\b", re.I | re.S)
CSP_REQUIRED = {
    "default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self'",
    "form-action": "'self'", "frame-ancestors": "'none'", "base-uri": "'none'",
}


# =================================================================================================================
# Fixtures
# =================================================================================================================


@dataclass
class Console:
    """The module's server, its OpenID provider and what the tests share."""

    server: ServerProcess
    provider: OIDCProvider
    organization_id: str
    boss: Cred  # the bootstrap Administrator API token
    shots: Screenshots
    log_dir: Path
    client_secret: str  # the OIDC client secret the server was given (in a file)
    browsers: list[Browser] = field(default_factory=list)  # open browsers of the current test (closed after it)
    shared: list[Browser] = field(default_factory=list)  # module-wide browsers
    authorization_requests: list[dict] = field(default_factory=list)  # what the console sent to the provider
    session_cookies: set[str] = field(default_factory=set)  # every cfsess_ value seen
    links: set[str] = field(default_factory=set)  # every sign-in link printed

    @property
    def base(self) -> str:
        return self.server.url

    @property
    def boss_auth(self) -> dict:
        return auth(self.boss)

    def browser(self, label: str, **options) -> Browser:
        """A new Chromium of the current test (closed when the test ends)."""
        browser = Browser(new_chrome(log_dir=self.log_dir, **options), self.base, self.shots, label)
        self.browsers.append(browser)
        return browser

    def link(self, email: str, *extra: str) -> str:
        url = sign_in_link(self.server, email, *extra)
        self.links.add(url)
        return url

    def remember_session(self, browser: Browser) -> str:
        cookie = browser.cookies().get(SESSION_COOKIE)
        assert cookie is not None, f"no {SESSION_COOKIE} cookie after signing in (cookies: {sorted(browser.cookies())})"
        self.session_cookies.add(cookie["value"])
        return cookie["value"]

    def tokens(self) -> list[dict]:
        return list_tokens(self.base, self.boss_auth)

    def token_named(self, name: str) -> list[dict]:
        return [token for token in self.tokens() if token["name"] == name]


@pytest.fixture(scope="module")
def console(server_binary: Path, tmp_path_factory: pytest.TempPathFactory):
    browser_binaries()  # fails the module at once, with what to install, when Chromium is missing
    root = tmp_path_factory.mktemp("console")
    provider = OIDCProvider(root / "provider").start()
    client_secret = root / "oidc-client-secret"
    client_secret.write_text(secrets.token_urlsafe(32) + "\n")
    client_secret.chmod(0o600)
    server = ServerProcess(server_binary, root / "server", log_level="debug")
    server.extra_args = ["--public-url", server.url, "--oidc-issuer", provider.issuer, "--oidc-client-id", CLIENT_ID,
                         "--oidc-client-secret-file", str(client_secret)]
    try:
        banner = server.start()
        assert banner is not None, "the first start on an empty data directory printed no bootstrap banner"
        create_user(server, ADMIN_EMAIL, "Administrator", banner.organization_id)
        create_user(server, VIEWER_EMAIL, "User", banner.organization_id)
        provider.set_user(ADMIN_SUB, ADMIN_EMAIL, verified=True)
        provider.set_user(VIEWER_SUB, VIEWER_EMAIL, verified=True)
        yield Console(server, provider, banner.organization_id, Cred(banner.token_id, banner.secret),
                      Screenshots(artifacts_dir()), root / "browser-logs", client_secret.read_text().strip())
    finally:
        if server.running:
            server.stop()
        server.kill()
        provider.stop()


@pytest.fixture(autouse=True)
def evidence(console: Console, request: pytest.FixtureRequest):
    """After each test: on a failure, a screenshot and the page source of every open browser; then the test's own
    browsers are closed."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        for browser in console.browsers + console.shared:
            browser.shot(f"FAILED-{request.node.name}", page_source=True)
        print(f"\nscreenshots: {console.shots.directory}\nserver logs: {console.server.log_dir}\n"
              f"provider log: {console.provider.log_path}")
    while console.browsers:
        console.browsers.pop().quit()


def sso_sign_in(console: Console, browser: Browser, sub: str, *, shots: bool = False) -> dict:
    """Sign in with SSO from the sign-in page, as `sub` at the provider; answers the authorization request the
    console made. Does not wait for where the console lands."""
    browser.open("/console/sign-in")
    browser.wait_path("/console/sign-in")
    if shots:
        browser.shot("sign-in-page")
    browser.click("a#sso-sign-in")
    request = authorize_at_provider(browser, console.provider, sub, shot="provider-authorize" if shots else None)
    console.authorization_requests.append(request)
    return request


def sso_signed_in(console: Console, browser: Browser, sub: str, *, shots: bool = False) -> dict:
    request = sso_sign_in(console, browser, sub, shots=shots)
    browser.wait_path("/console/tokens")
    console.remember_session(browser)
    return request


def link_signed_in(console: Console, browser: Browser, email: str) -> None:
    """Sign in with a break-glass link printed by `admin sign-in-link`."""
    browser.open(console.link(email))
    browser.wait_path("/console/sign-in/link")
    browser.click("form#link-sign-in button#continue")
    browser.wait_path("/console/tokens")
    console.remember_session(browser)


@pytest.fixture(scope="module")
def admin_browser(console: Console):
    """The Administrator, signed in through SSO, for the whole module."""
    browser = Browser(new_chrome(log_dir=console.log_dir), console.base, console.shots, "admin")
    console.shared.append(browser)
    try:
        sso_signed_in(console, browser, ADMIN_SUB)
        browser.grant_clipboard()
        yield browser
    finally:
        console.shared.remove(browser)
        browser.quit()


@pytest.fixture(scope="module")
def viewer_browser(console: Console):
    """A User (added with `admin create-user --role User`), signed in through SSO, for the whole module."""
    browser = Browser(new_chrome(log_dir=console.log_dir), console.base, console.shots, "viewer")
    console.shared.append(browser)
    try:
        sso_signed_in(console, browser, VIEWER_SUB)
        yield browser
    finally:
        console.shared.remove(browser)
        browser.quit()


# =================================================================================================================
# Page helpers
# =================================================================================================================


def row_css(token_id: str) -> str:
    return f'table#tokens tr[data-token-id="{token_id}"]'


def user_row_css(email: str) -> str:
    return f'table#users tr[data-user-email="{email}"]'


def cell(browser: Browser, row: str, name: str) -> str:
    return browser.find(f"{row} .{name}").text.strip()


def open_tokens(browser: Browser) -> None:
    browser.open("/console/tokens")
    browser.wait_path("/console/tokens")
    browser.find("table#tokens")


def secret_page(browser: Browser) -> tuple[str, str]:
    """On the page that shows a secret once: checks the warning and answers (ID, secret) as the Copy buttons put
    them on the clipboard, the same as shown."""
    browser.find("code#token-secret")
    warning = browser.text("#secret-warning")
    assert NOT_SHOWN_AGAIN.search(warning), f"#secret-warning does not say the secret will not be shown again: {warning!r}"
    shown_id, shown_secret = browser.text("code#token-id"), browser.text("code#token-secret")
    copied_id = browser.copy_with_button("token-id")
    copied_secret = browser.copy_with_button("token-secret")
    Seen.secret(copied_secret)
    assert copied_id == shown_id, f"the Copy button copied {copied_id!r}, the page shows {shown_id!r}"
    assert copied_secret == shown_secret, "the Copy button copied something else than the secret shown"
    assert TOKEN_ID_RE.match(copied_id), copied_id
    assert SECRET_RE.match(copied_secret), "the secret is not cfs_ and 46 base62 characters"
    assert browser.has("a#done"), "no a#done on the secret page"
    return copied_id, copied_secret


def status_with(console: Console, cred: Cred) -> int:
    """What `GET /v1/tokens` answers to an API token's ID and secret by HTTP Basic."""
    return api(console.base, "GET", "/v1/tokens", auth(cred)).status_code


def get_page(client: ConsoleClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.headers.get('Location')}"
    return response.text


def csp(response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers.get("Content-Security-Policy", "").split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_console_headers(response, what: str) -> None:
    """The headers every console answer carries (docs/console.md, Sessions and forms)."""
    policy = csp(response)
    assert policy, f"{what}: no Content-Security-Policy ({dict(response.headers)})"
    for directive, value in CSP_REQUIRED.items():
        assert policy.get(directive) == [value], f"{what}: CSP {directive} is {policy.get(directive)}, not {value}"
    scripts = policy.get("script-src", policy.get("default-src", []))
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(scripts), \
        f"{what}: script-src allows {scripts}"
    assert response.headers.get("X-Frame-Options", "").upper() == "DENY", \
        f"{what}: X-Frame-Options {response.headers.get('X-Frame-Options')}"
    assert response.headers.get("X-Content-Type-Options", "").lower() == "nosniff", what
    assert response.headers.get("Referrer-Policy", "").lower() == "no-referrer", what
    assert "no-store" in response.headers.get("Cache-Control", ""), \
        f"{what}: Cache-Control {response.headers.get('Cache-Control')}"


def shows(browser: Browser, secret: str) -> bool:
    """Whether the page shown holds `secret` or its random part (answered as a bool, so that a failing assertion
    does not print the secret)."""
    page = browser.source()
    return secret in page or secret[4:44] in page


OVERFLOWING = """
const limit = window.innerWidth + 1;
// Whether a scrolling or clipping ancestor keeps the element's overflow to itself. An absolutely positioned element
// is clipped only by the ancestors from its containing block (the nearest positioned ancestor) up.
const clipped = element => {
  const position = getComputedStyle(element).position;
  if (position === 'fixed') return false;
  let reachedContainingBlock = position !== 'absolute';
  for (let e = element.parentElement; e; e = e.parentElement) {
    const style = getComputedStyle(e);
    if (!reachedContainingBlock && style.position !== 'static') reachedContainingBlock = true;
    if (reachedContainingBlock && ['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX)
        && e.getBoundingClientRect().right <= limit) return true;
  }
  return false;
};
const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
  + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
const found = [];
for (const e of document.body.querySelectorAll('*')) {
  const right = e.getBoundingClientRect().right;
  if (right > limit && !clipped(e))
    found.push(name(e) + ' (right edge at ' + Math.round(right) + ' px, position ' + getComputedStyle(e).position + ')');
}
return found.slice(0, 8);
"""


def overflowing(browser: Browser) -> list[str]:
    """The outermost elements that stick out of the viewport on the right, unclipped by a scrolling ancestor."""
    return browser.driver.execute_script(OVERFLOWING)


def element_ids(html: str) -> set[str]:
    """The IDs of the elements of an HTML page."""
    return set(parse_html(html).ids)


def audit_of(console: Console, action: str, actor: str) -> list[dict]:
    return [event for event in audit_events(console.base, console.boss_auth)
            if event["action"] == action and event["actor"] == actor]


# =================================================================================================================
# 1. Signing in with SSO
# =================================================================================================================


def test_administrator_signs_in_through_the_identity_provider(console: Console, admin_browser: Browser):
    browser = console.browser("sso")
    request = sso_sign_in(console, browser, ADMIN_SUB, shots=True)

    # The authorization-code flow with PKCE (S256), a fresh state and nonce, the documented redirect URI.
    assert request.get("response_type") == "code", request
    assert request.get("client_id") == CLIENT_ID, request
    assert request.get("redirect_uri") == console.base + "/console/sign-in/callback", request
    assert {"openid", "email"} <= set(request.get("scope", "").split()), request
    assert request.get("code_challenge_method") == "S256", request
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", request.get("code_challenge", "")), request
    assert len(request.get("state", "")) >= 16 and len(request.get("nonce", "")) >= 16, request
    earlier = console.authorization_requests[:-1]
    assert earlier, "the Administrator's browser signed in first"
    for other in earlier:
        for parameter in ("state", "nonce", "code_challenge"):
            assert other[parameter] != request[parameter], f"the {parameter} is not new for each attempt"

    browser.wait_path("/console/tokens")
    browser.find("table#tokens")
    browser.shot("tokens-after-sign-in")
    signed_in_as = browser.text("#signed-in-as")
    assert ADMIN_EMAIL in signed_in_as and "Administrator" in signed_in_as, signed_in_as
    assert browser.has("nav a#nav-tokens") and browser.has("nav a#nav-users"), "the Administrator's nav"
    assert browser.has("form#sign-out button#sign-out-button")
    assert browser.has("a#create-token")
    assert not browser.has("#error")
    # The bootstrap token is listed, with its cells.
    row = row_css(console.boss.id)
    assert cell(browser, row, "id") == console.boss.id
    assert cell(browser, row, "role") == "Administrator"
    for name in ("name", "created", "last-used", "expires"):
        browser.find(f"{row} .{name}")

    session = console.remember_session(browser)
    assert SESSION_RE.match(session), "the session cookie holds a cfsess_ secret"
    assert session != admin_browser.cookies()[SESSION_COOKIE]["value"], "each sign-in has a session of its own"


def test_sso_refuses_unverified_unknown_and_rebound_identities(console: Console, admin_browser: Browser):
    """The ID token's email must be verified and name a user, and the first SSO sign-in bound the Administrator's
    subject: another subject with the same (verified) email is refused."""
    browser = console.browser("sso-refused")
    newcomer = f"newcomer-{uuid.uuid4().hex[:6]}@example.com"
    newcomer_sub = f"newcomer-{uuid.uuid4().hex[:6]}"
    create_user(console.server, newcomer, "User", console.organization_id)
    cases = [
        ("unverified-email", newcomer_sub, newcomer, False),
        ("unknown-user", f"stranger-{uuid.uuid4().hex[:6]}", f"stranger-{uuid.uuid4().hex[:6]}@example.com", True),
        ("other-subject", f"impostor-{uuid.uuid4().hex[:6]}", ADMIN_EMAIL, True),
    ]
    for label, sub, email, verified in cases:
        console.provider.set_user(sub, email, verified=verified)
        sso_sign_in(console, browser, sub)
        # The callback answers the sign-in page with #error (by a redirect to it, or rendered in place).
        browser.wait_until(f"{label}: the sign-in page with #error",
                           lambda: browser.path in ("/console/sign-in", "/console/sign-in/callback")
                           and browser.has("#error"))
        error = browser.find("#error")
        assert error.get_attribute("role") == "alert", f"{label}: #error has no role=alert"
        assert error.text.strip(), f"{label}: an empty #error"
        browser.shot(label)
        assert SESSION_COOKIE not in browser.cookies(), f"{label}: a session cookie after a refused sign-in"
        browser.open("/console/tokens")
        browser.wait_path("/console/sign-in")
    # What was refused was the identity: once the provider says the newcomer's email is verified, they sign in, and
    # the Administrator's own subject still does.
    console.provider.set_user(newcomer_sub, newcomer, verified=True)
    sso_signed_in(console, browser, newcomer_sub)
    assert newcomer in browser.text("#signed-in-as")
    browser.click("form#sign-out button#sign-out-button")
    browser.wait_path("/console/sign-in")
    sso_signed_in(console, browser, ADMIN_SUB)
    assert ADMIN_EMAIL in browser.text("#signed-in-as")


# =================================================================================================================
# 2. The seed's console steps: create, copy, use, regenerate, delete
# =================================================================================================================


def test_create_copy_use_regenerate_and_delete_a_token_on_the_api_tokens_page(console: Console, admin_browser: Browser):
    browser = admin_browser
    name = f"deploy pipeline {uuid.uuid4().hex[:6]}"

    # 1. Navigate to the API tokens page. 2. Click the Create button.
    open_tokens(browser)
    browser.shot("api-tokens-page")
    browser.click("a#create-token")
    browser.wait_path("/console/tokens/new")
    # 3. Enter a human friendly name. 4. Select a role. 5. Click the Save button.
    browser.fill("form#create-token-form input#name", name)
    browser.choose("form#create-token-form select#role", "User")
    browser.shot("create-form-filled")
    browser.click("form#create-token-form button#save")
    # 6. Copy the access token ID and secret; the page says it will not be shown again.
    token_id, secret = secret_page(browser)
    browser.shot("secret-shown-once")

    # The ID and secret work against the API, and the token is the one created, by the Administrator.
    cred = Cred(token_id, secret)
    assert status_with(console, cred) == 200
    [token] = [t for t in console.tokens() if t["id"] == token_id]
    assert token["name"] == name and token["role"] == "User", token
    assert token["created_by"] == f"user:{ADMIN_EMAIL}", token
    created = [e for e in audit_of(console, "token.create", f"user:{ADMIN_EMAIL}") if e["target_id"] == token_id]
    assert len(created) == 1, "one token.create event by the Administrator"

    # Done: the token is listed, and the secret is nowhere on the page, not after a reload nor going back.
    browser.click("a#done")
    browser.wait_path("/console/tokens")
    row = row_css(token_id)
    assert cell(browser, row, "name") == name
    assert cell(browser, row, "id") == token_id
    assert cell(browser, row, "role") == "User"
    browser.shot("token-listed")
    assert not shows(browser, secret), "the tokens page shows the secret"
    browser.driver.refresh()
    browser.wait_path("/console/tokens")
    assert not shows(browser, secret), "the reloaded tokens page shows the secret"
    browser.driver.back()
    browser.wait_until("the previous page", browser.ready)
    browser.shot("back-after-done")
    assert not shows(browser, secret), "going back shows the secret again"

    # Regenerate the secret (confirm): the new secret is shown once, the old one stops at once.
    open_tokens(browser)
    browser.click(f"{row} a.regenerate")
    browser.wait_path(f"/console/tokens/{token_id}/regenerate")
    browser.shot("regenerate-confirm")
    browser.click("form#regenerate-form button#confirm")
    new_id, new_secret = secret_page(browser)
    browser.shot("new-secret-shown-once")
    assert new_id == token_id and new_secret != secret
    assert status_with(console, Cred(token_id, secret)) == 401, "the old secret still works after regenerating"
    assert status_with(console, Cred(token_id, new_secret)) == 200
    # Leaving the secret page and coming back does not show it again (the answer to a POST, never stored).
    browser.click("nav a#nav-users")
    browser.wait_path("/console/users")
    browser.driver.back()
    browser.wait_until("the previous page", browser.ready)
    browser.shot("back-to-the-regenerate-answer")
    assert not shows(browser, new_secret), "going back to the regenerate answer shows the secret again"
    regenerated = [e for e in audit_of(console, "token.regenerate", f"user:{ADMIN_EMAIL}") if e["target_id"] == token_id]
    assert len(regenerated) == 1

    # Delete (confirm): gone from the table, with a notice, and the API refuses its secret.
    open_tokens(browser)
    browser.click(f"{row} a.delete")
    browser.wait_path(f"/console/tokens/{token_id}/delete")
    browser.shot("delete-confirm")
    browser.click("form#delete-form button#confirm")
    browser.wait_path("/console/tokens")
    notice = browser.find("#notice")
    assert notice.get_attribute("role") == "status" and notice.text.strip(), "the deletion's #notice"
    assert not browser.has(row), "the deleted token is still listed"
    browser.shot("deleted")
    assert status_with(console, Cred(token_id, new_secret)) == 401
    assert not [t for t in console.tokens() if t["id"] == token_id]
    deleted = [e for e in audit_of(console, "token.delete", f"user:{ADMIN_EMAIL}") if e["target_id"] == token_id]
    assert len(deleted) == 1


def test_secret_answers_are_never_stored_and_work_without_a_browser(console: Console, admin_browser: Browser):
    """The create and regenerate answers carry `Cache-Control: no-store` (checked with `requests`, which sees
    headers), and the forms work as plain HTML posts."""
    client = admin_browser.client()
    name = f"headers probe {uuid.uuid4().hex[:6]}"
    action, fields = form_data(get_page(client, "/console/tokens/new"), "create-token-form", name=name, role="Administrator")
    assert action == "/console/tokens", action
    created = client.post("/console/tokens", fields)
    # The secret is the answer to the POST itself (200, or 201 Created), never a redirect to a page that has it.
    assert created.status_code in (200, 201), f"create: {created.status_code} {created.headers.get('Location')}"
    assert_console_headers(created, "the create answer")
    token_id, secret = code_text(created.text, "token-id"), code_text(created.text, "token-secret")
    assert TOKEN_ID_RE.match(token_id or "") and SECRET_RE.match(secret or ""), created.text[:1000]
    Seen.secret(secret)
    assert status_with(console, Cred(token_id, secret)) == 200

    page = get_page(client, f"/console/tokens/{token_id}/regenerate")
    action, fields = form_data(page, "regenerate-form")
    assert action in ("", f"/console/tokens/{token_id}/regenerate"), action
    regenerated = client.post(f"/console/tokens/{token_id}/regenerate", fields)
    assert regenerated.status_code == 200, regenerated.status_code
    assert_console_headers(regenerated, "the regenerate answer")
    new_secret = code_text(regenerated.text, "token-secret")
    assert SECRET_RE.match(new_secret or "") and new_secret != secret
    Seen.secret(new_secret)
    assert status_with(console, Cred(token_id, secret)) == 401
    assert status_with(console, Cred(token_id, new_secret)) == 200

    page = get_page(client, f"/console/tokens/{token_id}/delete")
    action, fields = form_data(page, "delete-form")
    deleted = client.post(f"/console/tokens/{token_id}/delete", fields)
    assert redirect_path(deleted) == "/console/tokens" or deleted.status_code == 200, deleted.status_code
    assert status_with(console, Cred(token_id, new_secret)) == 401
    listing = get_page(client, "/console/tokens")
    assert token_id not in listing, "the deleted token is still listed"


# =================================================================================================================
# 3. A User's read-only view
# =================================================================================================================


def test_a_user_sees_the_tokens_but_no_controls_and_cannot_change_anything(console: Console, viewer_browser: Browser,
                                                                         admin_browser: Browser):
    browser = viewer_browser
    open_tokens(browser)
    browser.shot("read-only-tokens")
    assert browser.has(row_css(console.boss.id)), "a User sees the organization's tokens"
    signed_in_as = browser.text("#signed-in-as")
    assert VIEWER_EMAIL in signed_in_as and "User" in signed_in_as, signed_in_as
    for control in ("a#create-token", "a.regenerate", "a.delete", "a#nav-users"):
        assert not browser.has(control), f"a User is shown {control}"
    assert browser.has("nav a#nav-tokens")

    # The change routes and the Users page answer 403 to the User's own valid session.
    client = browser.client()
    for path in ("/console/tokens/new", f"/console/tokens/{console.boss.id}/regenerate",
                 f"/console/tokens/{console.boss.id}/delete", "/console/users"):
        response = client.get(path)
        assert response.status_code == 403, f"GET {path} as a User: {response.status_code}"

    # A post with the User's valid session and CSRF token (from the sign-out form they can see), with the fields of
    # the real create form, is refused and creates nothing.
    csrf = browser.hidden_value("form#sign-out input[name=csrf_token]")
    assert csrf, "the sign-out form has no csrf_token"
    name = f"forged by a user {uuid.uuid4().hex[:6]}"
    _, fields = form_data(get_page(admin_browser.client(), "/console/tokens/new"), "create-token-form",
                          name=name, role="Administrator")
    fields["csrf_token"] = csrf
    before = {t["id"] for t in console.tokens()}
    refused = client.post("/console/tokens", fields)
    assert refused.status_code == 403, refused.status_code
    assert "cfs_" not in refused.text and "token-secret" not in refused.text
    for path in (f"/console/tokens/{console.boss.id}/regenerate", f"/console/tokens/{console.boss.id}/delete"):
        response = client.post(path, {"csrf_token": csrf})
        assert response.status_code == 403, f"POST {path} as a User: {response.status_code}"
    assert {t["id"] for t in console.tokens()} == before, "a User's post changed the tokens"
    assert status_with(console, console.boss) == 200, "the bootstrap token survived the User's posts"
    # The User is still signed in, still read-only.
    open_tokens(browser)
    assert not browser.has("a#create-token")


# =================================================================================================================
# 4. CSRF
# =================================================================================================================


def test_posts_without_the_right_csrf_token_are_refused(console: Console, admin_browser: Browser,
                                                        viewer_browser: Browser):
    client = admin_browser.client()
    name = f"csrf probe {uuid.uuid4().hex[:6]}"
    _, fields = form_data(get_page(client, "/console/tokens/new"), "create-token-form", name=name, role="Administrator")
    good = fields["csrf_token"]
    assert good, "the create form has no csrf_token"
    viewer_csrf = csrf_of(viewer_browser.client().get("/console/tokens").text, "sign-out")
    forged = {
        "missing": {k: v for k, v in fields.items() if k != "csrf_token"},
        "empty": {**fields, "csrf_token": ""},
        "wrong": {**fields, "csrf_token": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")},
        "another session's": {**fields, "csrf_token": viewer_csrf},
    }
    assert viewer_csrf != good, "two sessions have the same CSRF token"
    for label, data in forged.items():
        response = client.post("/console/tokens", data)
        assert response.status_code == 403, f"{label} CSRF token: {response.status_code}"
        assert "token-secret" not in response.text
    assert not console.token_named(name), "a post without the right CSRF token created a token"

    # A forged sign-out does not sign out either.
    response = client.post("/console/sign-out", {"csrf_token": "not-the-token"})
    assert response.status_code == 403, response.status_code
    assert client.get("/console/tokens").status_code == 200, "a forged sign-out ended the session"

    # The same post with the right token goes through: what refused the others was the CSRF token.
    response = client.post("/console/tokens", fields)
    assert response.status_code in (200, 201), response.status_code
    [token] = console.token_named(name)
    Seen.secret(code_text(response.text, "token-secret") or "")
    assert api(console.base, "DELETE", f"/v1/tokens/{token['id']}", console.boss_auth).status_code == 204


def test_a_form_of_another_site_or_origin_creates_no_token(console: Console, admin_browser: Browser):
    """A page that posts itself to the console, opened by the signed-in Administrator: from another site (the
    browser withholds the SameSite=Lax session cookie) and from another origin of the same site, 127.0.0.1 on
    another port (the browser sends the cookie; the missing CSRF token stops it)."""
    _, fields = form_data(get_page(admin_browser.client(), "/console/tokens/new"), "create-token-form",
                          name="placeholder", role="Administrator")
    fields.pop("csrf_token", None)
    other = OtherSite()
    try:
        for label, same_site in (("cross-site", False), ("same-site-other-origin", True)):
            name = f"{label} {uuid.uuid4().hex[:6]}"
            inputs = "".join(f'<input type="hidden" name="{k}" value="{name if v == "placeholder" else v}">'
                             for k, v in fields.items())
            page = other.page(f"/{label}.html", (
                "<!doctype html><title>You won</title>"
                f'<form id="f" method="post" action="{console.base}/console/tokens">{inputs}</form>'
                "<script>document.getElementById('f').submit()</script>"), same_site=same_site)
            admin_browser.open(page)
            admin_browser.wait_origin(console.base)
            admin_browser.shot(f"after-{label}-post")
            assert "token-secret" not in element_ids(admin_browser.source()), f"{label}: the post was answered a secret"
            assert not console.token_named(name), f"a {label} form created a token"
    finally:
        other.close()
    # The Administrator is still signed in.
    open_tokens(admin_browser)
    assert admin_browser.has("a#create-token")


# =================================================================================================================
# 5. Sign-out
# =================================================================================================================


def test_sign_out_ends_the_session_at_once(console: Console):
    browser = console.browser("sign-out")
    sso_signed_in(console, browser, ADMIN_SUB)
    old = browser.client()
    assert old.get("/console/tokens").status_code == 200, "the copied cookie works before signing out"
    browser.shot("before-sign-out")
    browser.click("form#sign-out button#sign-out-button")
    browser.wait_path("/console/sign-in")
    browser.shot("signed-out")
    assert SESSION_COOKIE not in browser.cookies() or browser.cookies()[SESSION_COOKIE]["value"] not in old.cookies.values()
    # The copied cookie stopped working at once, on every page.
    for path in ("/console/tokens", "/console/users", "/console/tokens/new"):
        response = old.get(path)
        assert refused_to_anonymous(response), f"GET {path} with the old session cookie: {response.status_code}"
        assert "tokens" not in element_ids(response.text)
    browser.open("/console/tokens")
    browser.wait_path("/console/sign-in")


# =================================================================================================================
# 6. Break-glass links
# =================================================================================================================


def test_a_sign_in_link_signs_in_once(console: Console):
    email = f"break-glass-{uuid.uuid4().hex[:6]}@example.com"
    create_user(console.server, email, "Administrator", console.organization_id)
    link = console.link(email)
    assert LINK_RE.match(link), link
    path_and_query = link[len(console.base):]

    # A mail scanner opening the link spends nothing; a post without the CSRF token is refused and spends nothing.
    scanner = ConsoleClient(console.base)
    opened = scanner.get(path_and_query)
    assert opened.status_code == 200, opened.status_code
    assert_console_headers(opened, "the link page")
    page = parse_html(opened.text)
    assert "link-sign-in" in [f["attrs"].get("id") for f in page.forms] and "continue" in page.ids
    _, fields = form_data(opened.text, "link-sign-in")
    pre_session = cookies_set_by(opened)
    no_csrf = ConsoleClient(console.base, pre_session).post(
        "/console/sign-in/link", {k: v for k, v in fields.items() if k != "csrf_token"})
    assert no_csrf.status_code == 403, no_csrf.status_code
    assert not any(c.startswith(SESSION_COOKIE + "=") for c in set_cookies(no_csrf))

    # Continue signs in.
    browser = console.browser("link")
    browser.open(link)
    browser.wait_path("/console/sign-in/link")
    browser.find("form#link-sign-in")
    browser.shot("continue")
    browser.click("form#link-sign-in button#continue")
    browser.wait_path("/console/tokens")
    browser.shot("signed-in")
    assert email in browser.text("#signed-in-as")
    console.remember_session(browser)

    # The same link again: #error, 400, and not signed in.
    again = console.browser("link-again")
    again.open(link)
    again.wait_path("/console/sign-in/link")
    error = again.find("#error")
    assert error.text.strip()
    assert not again.has("form#link-sign-in") and not again.has("button#continue")
    again.shot("spent")
    spent = ConsoleClient(console.base).get(path_and_query)
    assert spent.status_code == 400, spent.status_code
    assert "error" in element_ids(spent.text) and "link-sign-in" not in element_ids(spent.text)
    again.open("/console/tokens")
    again.wait_path("/console/sign-in")
    # Replaying the spent link's form (as captured before it was used) signs nobody in either.
    replay = ConsoleClient(console.base, pre_session).post("/console/sign-in/link", fields)
    assert replay.status_code in (400, 403), replay.status_code
    assert not any(c.startswith(SESSION_COOKIE + "=") for c in set_cookies(replay))

    # Links live minutes: at most 60.
    too_long = admin(console.server, "sign-in-link", "--email", email, "--valid-for", "2h", check=False)
    assert too_long.returncode != 0, f"a 2-hour link was printed:\n{too_long.stdout}"
    assert "cfsl_" not in too_long.stdout


# =================================================================================================================
# 7. API tokens and console sessions do not mix
# =================================================================================================================


def test_api_tokens_do_not_sign_in_and_sessions_do_not_call_the_api(console: Console, admin_browser: Browser):
    anonymous = ConsoleClient(console.base)
    access = mint(console.base, console.boss)
    for label, headers in (("Basic", auth(console.boss)), ("Bearer", bearer(access))):
        for path in ("/console/tokens", "/console/users"):
            response = anonymous.get(path, headers=headers)
            assert refused_to_anonymous(response), f"{label} Administrator token on {path}: {response.status_code}"
            assert not {"tokens", "users"} & element_ids(response.text), f"{label} token on {path} shows the page"

    session = admin_browser.client()
    cookie = session.cookie_header
    assert session.get("/console/tokens").status_code == 200
    for method, path in (("GET", "/v1/tokens"), ("GET", "/v1/organization"), ("GET", "/v1/audit-events")):
        error_of(api(console.base, method, path, {"Cookie": cookie}), 401, "unauthorized")
    # Nor may a console session's secret stand in for a credential.
    value = session.cookies[SESSION_COOKIE]
    as_basic = base64.b64encode(f"{value}:{value}".encode()).decode()
    for headers in ({"Authorization": f"Bearer {value}"}, {"Authorization": f"Basic {as_basic}"}):
        error_of(api(console.base, "GET", "/v1/tokens", headers), 401, "unauthorized")


# =================================================================================================================
# 8. Security headers and cookies
# =================================================================================================================


def test_console_pages_carry_the_security_headers_and_a_strict_session_cookie(console: Console, admin_browser: Browser,
                                                                             viewer_browser: Browser):
    anonymous = ConsoleClient(console.base)
    admin = admin_browser.client()
    viewer = viewer_browser.client()
    answers = {
        "sign-in": anonymous.get("/console/sign-in"),
        "tokens": admin.get("/console/tokens"),
        "create": admin.get("/console/tokens/new"),
        "users": admin.get("/console/users"),
        "403 users for a User": viewer.get("/console/users"),
        "unknown link": anonymous.get("/console/sign-in/link?token=cfsl_unknown"),
        "signed-out tokens": anonymous.get("/console/tokens"),
    }
    assert answers["sign-in"].status_code == 200 and answers["tokens"].status_code == 200
    assert answers["403 users for a User"].status_code == 403
    assert answers["unknown link"].status_code == 400
    for what, response in answers.items():
        assert_console_headers(response, what)

    # The session cookie, as the browser holds it and as the server set it.
    cookie = admin_browser.cookies()[SESSION_COOKIE]
    assert cookie["httpOnly"] is True, cookie
    assert cookie.get("sameSite") in ("Lax", "Strict"), cookie
    assert cookie["path"] == "/" and cookie["domain"] == "127.0.0.1", cookie
    assert not admin_browser.driver.execute_script("return document.cookie.includes('cfsess_')"), \
        "the page's scripts can read the session"

    email = f"cookie-{uuid.uuid4().hex[:6]}@example.com"
    create_user(console.server, email, "User", console.organization_id)
    link = console.link(email)[len(console.base):]
    opened = anonymous.get(link)
    pre_session = cookies_set_by(opened)
    _, fields = form_data(opened.text, "link-sign-in")
    signed_in = ConsoleClient(console.base, pre_session).post("/console/sign-in/link", fields)
    assert redirect_path(signed_in) == "/console/tokens", signed_in.status_code
    sessions = [cookie_attributes(c) for c in set_cookies(signed_in) if c.startswith(SESSION_COOKIE + "=")]
    assert len(sessions) == 1, set_cookies(signed_in)
    _, value, attributes = sessions[0]
    assert SESSION_RE.match(value)
    console.session_cookies.add(value)
    assert "httponly" in attributes, attributes
    assert attributes.get("samesite", "").lower() in ("lax", "strict"), attributes
    assert attributes.get("path") == "/", attributes
    assert "domain" not in attributes, "a host-only cookie"
    assert ConsoleClient(console.base, {SESSION_COOKIE: value}).get("/console/tokens").status_code == 200

    # Nothing on the tokens page is loaded from another origin.
    open_tokens(admin_browser)
    loaded = admin_browser.driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    foreign = [url for url in loaded if not url.startswith(console.base + "/")]
    assert not foreign, f"loaded from another origin: {foreign}"


# =================================================================================================================
# 9. The Users page
# =================================================================================================================


def test_administrator_adds_promotes_and_removes_a_user_with_an_audit_trail(console: Console, admin_browser: Browser):
    browser = admin_browser
    email = f"new-person-{uuid.uuid4().hex[:6]}@example.com"
    actor = f"user:{ADMIN_EMAIL}"

    open_tokens(browser)
    browser.click("nav a#nav-users")
    browser.wait_path("/console/users")
    browser.find("table#users")
    assert cell(browser, user_row_css(ADMIN_EMAIL), "role") == "Administrator"
    browser.shot("users-page")

    # Add a user with the role User.
    browser.fill("form#add-user-form input#email", email)
    browser.choose("form#add-user-form select#role", "User")
    browser.shot("add-user-filled")
    browser.click("form#add-user-form button#add-user")
    row = user_row_css(email)
    browser.wait_until(f"{email} is listed", lambda: browser.has(row))
    browser.wait_path("/console/users")
    assert cell(browser, row, "email") == email
    assert cell(browser, row, "role") == "User"
    browser.find(f"{row} .last-sign-in")
    browser.shot("user-added")
    action = browser.find(f"{row} form.role-form").get_attribute("action")
    match = re.search(r"/console/users/([^/]+)/role$", action or "")
    assert match, f"the role form posts to {action}"
    user_id = match.group(1)

    # They sign in (a break-glass link) and see the read-only view.
    person = console.browser("new-person")
    link_signed_in(console, person, email)
    assert not person.has("a#create-token") and not person.has("a#nav-users")

    # Change the role: it takes effect on their next page.
    browser.open("/console/users")
    browser.wait_path("/console/users")
    browser.choose(f"{row} form.role-form select[name=role]", "Administrator")
    browser.find(f"{row} form.role-form [type=submit], {row} form.role-form button").click()
    browser.wait_until("the new role is shown", lambda: browser.has(row) and cell(browser, row, "role") == "Administrator")
    browser.shot("user-promoted")
    person.driver.refresh()
    person.wait_path("/console/tokens")
    person.find("a#create-token")
    assert person.has("a#nav-users")
    assert "Administrator" in person.text("#signed-in-as")

    # Remove the user (confirm): gone from the table, and their session ends at once.
    browser.click(f"{row} a.remove")
    browser.wait_path(f"/console/users/{user_id}/delete")
    browser.shot("remove-user-confirm")
    browser.click("form#delete-form button#confirm")
    browser.wait_path("/console/users")
    browser.wait_until(f"{email} is no longer listed", lambda: not browser.has(row))
    browser.shot("user-removed")
    person.driver.refresh()
    person.wait_path("/console/sign-in")

    # Each change is in the audit trail, by the Administrator, about that user.
    for audit_action in ("user.create", "user.update", "user.delete"):
        events = [e for e in audit_of(console, audit_action, actor) if e["target_id"] == user_id]
        assert len(events) == 1, f"{audit_action} events by {actor} about {user_id}: {events}"
        assert events[0]["outcome"] == "success"
        if audit_action == "user.update" and "role" in events[0]["details"]:
            assert events[0]["details"]["role"] == "Administrator", events[0]


def test_an_administrator_cannot_demote_or_remove_themselves(console: Console, admin_browser: Browser):
    client = admin_browser.client()
    admin_browser.open("/console/users")
    admin_browser.wait_path("/console/users")
    # The Administrator's own user ID, from the controls of their row where the page offers them (it may offer
    # none for oneself); every such control, posted with a valid session and CSRF token, is refused.
    row = user_row_css(ADMIN_EMAIL)
    admin_browser.find(row)
    targets = [e.get_attribute("action") for e in admin_browser.all(f"{row} form.role-form")]
    targets += [e.get_attribute("href") for e in admin_browser.all(f"{row} a.remove")]
    ids = {m.group(1) for m in (re.search(r"/console/users/([^/?#]+)/(?:role|delete)", t or "") for t in targets) if m}
    csrf = admin_browser.hidden_value("form#sign-out input[name=csrf_token]")
    for user_id in ids:
        demote = client.post(f"/console/users/{user_id}/role", {"role": "User", "csrf_token": csrf})
        assert demote.status_code in (400, 403, 409), f"demoting oneself: {demote.status_code}"
        remove = client.post(f"/console/users/{user_id}/delete", {"csrf_token": csrf})
        assert remove.status_code in (400, 403, 409), f"removing oneself: {remove.status_code}"
    admin_browser.open("/console/users")
    admin_browser.wait_path("/console/users")
    assert cell(admin_browser, user_row_css(ADMIN_EMAIL), "role") == "Administrator"
    open_tokens(admin_browser)
    assert admin_browser.has("a#create-token"), "the Administrator lost their rights"


# =================================================================================================================
# 10. Without JavaScript, and on a phone-sized screen with the keyboard
# =================================================================================================================


def test_the_console_works_without_javascript(console: Console):
    browser = console.browser("no-js", javascript=False)
    sso_signed_in(console, browser, ADMIN_SUB)
    browser.click("a#create-token")
    browser.wait_path("/console/tokens/new")
    name = f"no javascript {uuid.uuid4().hex[:6]}"
    browser.fill("form#create-token-form input#name", name)
    browser.choose("form#create-token-form select#role", "User")
    browser.click("form#create-token-form button#save")
    token_id, secret = browser.text("code#token-id"), browser.text("code#token-secret")
    browser.shot("secret-without-javascript")
    assert SECRET_RE.match(secret) and TOKEN_ID_RE.match(token_id)
    Seen.secret(secret)
    assert status_with(console, Cred(token_id, secret)) == 200
    browser.click("a#done")
    browser.wait_path("/console/tokens")
    browser.click(f"{row_css(token_id)} a.delete")
    browser.click("form#delete-form button#confirm")
    browser.wait_path("/console/tokens")
    assert not browser.has(row_css(token_id))
    assert status_with(console, Cred(token_id, secret)) == 401


def test_a_phone_sized_window_has_no_horizontal_overflow_and_create_is_reachable_by_keyboard(console: Console):
    browser = console.browser("phone")
    # Headless Chromium keeps windows at least 500 px wide; the device metrics make the viewport 390×844.
    browser.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": False})
    link_signed_in(console, browser, ADMIN_EMAIL)
    for path in ("/console/tokens", "/console/tokens/new", "/console/users"):
        browser.open(path)
        browser.wait_path(path)
        width, scroll_width = browser.driver.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth]")
        browser.shot(path.strip("/").replace("/", "-"))
        assert width == 390, f"the viewport is {width} px wide"
        assert scroll_width <= width + 1, \
            f"{path} overflows horizontally: {scroll_width} px in a {width} px window, because of {overflowing(browser)}"

    # From the top of the tokens page, Tab reaches the Create button, and Enter follows it.
    open_tokens(browser)
    keys = ActionChains(browser.driver)
    reached = False
    for _ in range(40):
        keys.send_keys(Keys.TAB).perform()
        if browser.driver.execute_script("return document.activeElement && document.activeElement.id") == "create-token":
            reached = True
            break
    assert reached, "40 presses of Tab never focused a#create-token"
    left, right = browser.driver.execute_script(
        "const r = document.activeElement.getBoundingClientRect(); return [r.left, r.right]")
    assert 0 <= left and right <= 391, f"the focused Create button is off screen ({left}..{right})"
    browser.shot("create-focused")
    ActionChains(browser.driver).send_keys(Keys.ENTER).perform()
    browser.wait_path("/console/tokens/new")
    assert browser.driver.find_element(By.CSS_SELECTOR, "form#create-token-form")


# =================================================================================================================
# 11. No console secret in the server's logs or files
# =================================================================================================================


def test_no_console_secret_in_the_logs_or_the_files_at_rest(console: Console):
    """Session cookies and sign-in links are stored as keyed digests only and never logged (nor is the OIDC client
    secret). Runs last: it reads everything the module made."""
    assert console.session_cookies and console.links, "the module signed in and printed links before this test"
    blobs: dict[str, bytes] = {}
    for path in console.server.stdout_paths + console.server.stderr_paths:
        if path.exists():
            blobs[f"logs/{path.name}"] = path.read_bytes()
    for name, data in data_files(console.server.data_dir).items():
        blobs[f"data/{name}"] = data
    client_secret = console.client_secret.encode()
    link_secrets = {link.rsplit("token=", 1)[1] for link in console.links}
    leaks = []
    for where, blob in blobs.items():
        for value in console.session_cookies | link_secrets:
            if value.encode() in blob or value.split("_", 1)[1][:40].encode() in blob:
                leaks.append(f"{where}: {value[:8]}…")
        shaped = re.search(rb"cfs(?:ess|l)_[0-9A-Za-z]{8,}", blob)
        if shaped:
            leaks.append(f"{where}: console-secret-shaped bytes {shaped.group(0)[:10]!r}…")
        if client_secret in blob:
            leaks.append(f"{where}: the OIDC client secret")
    assert not leaks, "\n".join(leaks)
