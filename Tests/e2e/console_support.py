"""Helpers of the web console's browser tests (`test_console_e2e.py`).

A real headless Chromium (Debian's `chromium` and `chromedriver`, driven by Selenium with explicit paths, so
Selenium Manager never downloads anything), a local OpenID provider (`oidc-provider-mock`, run as a process),
screenshots of every step as test artefacts, `requests` clients that carry a browser's console cookies (for what a
browser cannot show: status codes, headers, forged posts), a tiny web server on another origin (a cross-site page),
and the admin commands of the console (`create-user`, `sign-in-link`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from conftest import REPO, ServerProcess, clean_env, free_port

# Never let Selenium Manager look for (or download) a driver or a browser: the paths are always explicit.
os.environ.setdefault("SE_OFFLINE", "true")

from selenium import webdriver  # noqa: E402  (after SE_OFFLINE)
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException, StaleElementReferenceException, TimeoutException, WebDriverException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

WAIT = 20.0  # seconds any one condition in the browser may take
PROVIDER_READY_DEADLINE = 30.0  # seconds for the OpenID provider to answer its discovery document


# =================================================================================================================
# Artefacts: screenshots of every step
# =================================================================================================================


def artifacts_dir() -> Path:
    """`$CLOUDFLEET_ARTIFACTS_DIR/console` when set, else `Tests/e2e/artifacts/console` (gitignored)."""
    configured = os.environ.get("CLOUDFLEET_ARTIFACTS_DIR")
    root = Path(configured) if configured else REPO / "Tests" / "e2e" / "artifacts"
    return root / "console"


class Screenshots:
    """Saves `NN-step.png` files, numbered in the order the steps were taken, into one folder. The folder's old
    `NN-*.png` files (of an earlier run) are removed when it is opened."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        for old in self.directory.glob("[0-9][0-9]*-*.png"):
            old.unlink()
        for old in self.directory.glob("[0-9][0-9]*-*.html"):
            old.unlink()
        self.count = 0
        self._lock = threading.Lock()

    def take(self, driver: WebDriver, step: str, *, page_source: bool = False) -> Path:
        with self._lock:
            self.count += 1
            stem = f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9._-]+', '-', step).strip('-')}"
        path = self.directory / f"{stem}.png"
        assert driver.save_screenshot(str(path)), f"Chromium saved no screenshot to {path}"
        assert path.stat().st_size > 0, f"empty screenshot {path}"
        if page_source:
            (self.directory / f"{stem}.html").write_text(driver.page_source)
        return path


# =================================================================================================================
# Chromium
# =================================================================================================================


def browser_binaries() -> tuple[str, str]:
    """Debian's `chromium` and `chromedriver`; fails (never skips) with what to install when either is missing."""
    chromium = os.environ.get("CLOUDFLEET_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("CLOUDFLEET_CHROMEDRIVER") or shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    if missing:
        pytest.fail(f"the console's browser tests need {' and '.join(missing)} on PATH: "
                    "`apt-get install chromium chromium-driver` (scripts/test does this when they are missing)")
    return chromium, driver


def new_chrome(*, width: int = 1280, height: int = 900, javascript: bool = True, log_dir: Path | None = None) -> WebDriver:
    """A new headless Chromium with a profile of its own (no cookies shared with any other)."""
    chromium, chromedriver = browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                     "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                     "--disable-background-networking", "--disable-sync", "--disable-component-update",
                     "--disable-features=Translate,OptimizationHints,MediaRouter", "--password-store=basic"):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    log_output = subprocess.DEVNULL
    environment = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_output = str(log_dir / f"chromedriver-{time.monotonic_ns()}.log")
        # Chromium leaves a directory with its singleton socket in TMPDIR after every run: keep those in the
        # test's own temporary tree (which pytest prunes) rather than in /tmp.
        scratch = log_dir / "tmp"
        scratch.mkdir(exist_ok=True)
        environment = {**os.environ, "TMPDIR": str(scratch)}
    service = Service(executable_path=chromedriver, log_output=log_output, env=environment)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as error:
        pytest.fail(f"Chromium ({chromium}) did not start through {chromedriver}: {error.msg}")
    driver.set_page_load_timeout(30)
    return driver


# =================================================================================================================
# A browser on the console
# =================================================================================================================


class Browser:
    """One Chromium on the console at `base` (the server's public URL), with waits on conditions, never sleeps."""

    def __init__(self, driver: WebDriver, base: str, shots: Screenshots, label: str):
        self.driver = driver
        self.base = base.rstrip("/")
        self.shots = shots
        self.label = label

    # --- navigation -----------------------------------------------------------------------------------------------

    def open(self, path_or_url: str) -> None:
        self.driver.get(path_or_url if "://" in path_or_url else self.base + path_or_url)

    @property
    def url(self) -> str:
        return self.driver.current_url

    @property
    def path(self) -> str:
        """The path of the page shown, when it is on the console's origin ("" elsewhere)."""
        url = self.driver.current_url
        return urlparse(url).path if url.startswith(self.base + "/") or url == self.base else ""

    def wait_until(self, what: str, condition, timeout: float = WAIT):
        """Polls `condition` until it is true. A condition that reads the page while it is being replaced (a form
        was just sent) can find an element of the old page and lose it before reading it: that poll counts as not
        yet, and the next one reads the new page."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                                 ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                                 ).until(lambda _: condition())
        except TimeoutException:
            self.shot(f"timeout-{what}", page_source=True)
            raise AssertionError(f"[{self.label}] not within {timeout:g} s: {what} (at {self.driver.current_url})") from None

    def wait_path(self, path: str, timeout: float = WAIT) -> None:
        """Waits until the page shown is `path` on the console (query ignored) and its document has loaded."""
        self.wait_until(f"at {path}", lambda: self.path == path and self.ready(), timeout)

    def wait_origin(self, origin: str, timeout: float = WAIT) -> None:
        self.wait_until(f"at {origin}", lambda: self.driver.current_url.startswith(origin) and self.ready(), timeout)

    def ready(self) -> bool:
        try:
            return self.driver.execute_script("return document.readyState") == "complete"
        except WebDriverException:
            return False

    # --- elements -------------------------------------------------------------------------------------------------

    def find(self, css: str) -> WebElement:
        return self.wait_until(f"{css} is shown", lambda: self._first_displayed(css))

    def _first_displayed(self, css: str) -> WebElement | None:
        for element in self.driver.find_elements(By.CSS_SELECTOR, css):
            try:
                if element.is_displayed():
                    return element
            except WebDriverException:
                continue
        return None

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def has(self, css: str) -> bool:
        return bool(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        return self.find(css).text.strip()

    def click(self, css: str) -> None:
        element = self.find(css)
        self.wait_until(f"{css} is enabled", element.is_enabled)
        element.click()

    def fill(self, css: str, value: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    def choose(self, css: str, option: str) -> None:
        choose(self.find(css), option)

    def hidden_value(self, css: str) -> str:
        """The value of a (hidden) input, such as a form's `csrf_token`."""
        elements = self.all(css)
        assert elements, f"[{self.label}] no {css} on {self.driver.current_url}"
        return elements[0].get_attribute("value") or ""

    def source(self) -> str:
        return self.driver.page_source

    # --- artefacts ------------------------------------------------------------------------------------------------

    def shot(self, step: str, *, page_source: bool = False) -> Path | None:
        try:
            return self.shots.take(self.driver, f"{self.label}-{step}", page_source=page_source)
        except WebDriverException:
            return None

    # --- clipboard ------------------------------------------------------------------------------------------------

    def grant_clipboard(self) -> None:
        """Lets the console's origin write and read the clipboard without a prompt (Chromium's CDP)."""
        self.driver.execute_cdp_cmd("Browser.grantPermissions", {
            "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"], "origin": self.base,
        })

    def clipboard(self) -> str:
        """The text on the clipboard, read by the page with `navigator.clipboard.readText()`."""
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "window.focus();"
            "navigator.clipboard.readText().then(text => done({text}), error => done({error: String(error)}));")
        assert "error" not in result, f"[{self.label}] reading the clipboard failed: {result['error']}"
        return result["text"]

    def write_clipboard(self, text: str) -> None:
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "window.focus();"
            "navigator.clipboard.writeText(arguments[0]).then(() => done({}), error => done({error: String(error)}));",
            text)
        assert "error" not in result, f"[{self.label}] writing the clipboard failed: {result['error']}"

    def copy_with_button(self, target: str) -> str:
        """Clicks `button.copy[data-copy-target=<target>]` and answers what it put on the clipboard (the clipboard
        is first set to a marker, so a button that copies nothing cannot pass for one that works)."""
        marker = f"nothing copied yet {time.monotonic_ns()}"
        self.write_clipboard(marker)
        self.click(f"button.copy[data-copy-target={target}]")
        copied: list[str] = []

        def changed() -> bool:
            copied[:] = [self.clipboard()]
            return copied[0] != marker

        self.wait_until(f"the Copy button of {target} put something on the clipboard", changed)
        return copied[0]

    # --- cookies --------------------------------------------------------------------------------------------------

    def cookies(self) -> dict[str, dict]:
        """The browser's cookies for the console (HttpOnly ones too), by name."""
        return {cookie["name"]: cookie for cookie in self.driver.get_cookies()}

    def client(self) -> "ConsoleClient":
        """A `requests` client that carries this browser's console cookies as they are now."""
        return ConsoleClient(self.base, {name: cookie["value"] for name, cookie in self.cookies().items()})

    def quit(self) -> None:
        try:
            self.driver.quit()
        except WebDriverException:
            pass


def choose(select: WebElement, option: str) -> None:
    """Selects the option whose visible text or value is `option` (case-insensitively)."""
    chooser = Select(select)
    for index, candidate in enumerate(chooser.options):
        if option.lower() in (candidate.text.strip().lower(), (candidate.get_attribute("value") or "").lower()):
            chooser.select_by_index(index)
            assert chooser.first_selected_option.text == candidate.text
            return
    raise AssertionError(f"no option {option!r} in the select (options: {[o.text for o in chooser.options]})")


# =================================================================================================================
# Plain HTTP on the console, with a browser's cookies
# =================================================================================================================


@dataclass
class ConsoleClient:
    """`requests` on the console with explicit cookies (sent as one `Cookie` header, exactly as given); never
    follows redirects, so that each answer can be inspected."""

    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def _headers(self, extra: dict | None) -> dict:
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = self.cookie_header
        headers.update(extra or {})
        return headers

    def get(self, path: str, *, headers: dict | None = None) -> requests.Response:
        response = requests.get(self.base + path, headers=self._headers(headers), allow_redirects=False, timeout=15)
        assert response.status_code < 500, f"GET {path} answered {response.status_code}: {response.text[:500]}"
        return response

    def post(self, path: str, data: dict, *, headers: dict | None = None, same_origin: bool = True) -> requests.Response:
        """A form post; `same_origin` adds the `Origin` and `Sec-Fetch-Site` a browser sends from the console."""
        extra = {"Origin": self.base, "Sec-Fetch-Site": "same-origin"} if same_origin else {}
        extra.update(headers or {})
        response = requests.post(self.base + path, data=data, headers=self._headers(extra), allow_redirects=False,
                                 timeout=15)
        assert response.status_code < 500, f"POST {path} answered {response.status_code}: {response.text[:500]}"
        return response


def set_cookies(response: requests.Response) -> list[str]:
    """Every `Set-Cookie` header of an answer, as sent."""
    return list(response.raw.headers.getlist("Set-Cookie"))


def cookie_attributes(header: str) -> tuple[str, str, dict[str, str]]:
    """(name, value, attributes with lower-cased names) of one `Set-Cookie` header."""
    parts = [part.strip() for part in header.split(";")]
    name, _, value = parts[0].partition("=")
    attributes = {}
    for part in parts[1:]:
        key, _, val = part.partition("=")
        attributes[key.strip().lower()] = val.strip()
    return name.strip(), value.strip(), attributes


def cookies_set_by(response: requests.Response) -> dict[str, str]:
    """The cookies an answer sets (name: value), to carry into the next request as a browser would."""
    return {name: value for name, value, _ in map(cookie_attributes, set_cookies(response)) if value}


def redirect_path(response: requests.Response) -> str | None:
    """The path a 3xx answer redirects to (None for any other answer)."""
    if response.status_code not in (301, 302, 303, 307, 308):
        return None
    return urlparse(response.headers.get("Location", "")).path


def refused_to_anonymous(response: requests.Response) -> bool:
    """Whether a console page answered as it does to someone not signed in: a redirect to the sign-in page, or
    401/403 — never the page itself."""
    return redirect_path(response) == "/console/sign-in" or response.status_code in (401, 403)


# =================================================================================================================
# HTML of an answer
# =================================================================================================================


class _Forms(HTMLParser):
    """The forms of a page (their attributes, named fields and the options of their selects) and the attributes and
    text of every element with an ID."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        # Each form: {"attrs": {…}, "fields": {name: value}, "by_id": {id: name}, "options": {name: [(value, text)]}}
        self.forms: list[dict] = []
        self.ids: dict[str, dict] = {}  # element id -> {"tag": …, attributes…}
        self._form: dict | None = None
        self._select: str | None = None  # name of the open select
        self._option: list | None = None  # [value, text parts] of the open option
        self._texts: dict[str, list[str]] = {}
        self._open: list[tuple[str, str]] = []  # (tag, id) of open elements whose text is collected

    def handle_starttag(self, tag, attrs):
        attributes = {name: (value or "") for name, value in attrs}
        element_id = attributes.get("id")
        if element_id:
            self.ids[element_id] = {"tag": tag, **attributes}
            self._texts.setdefault(element_id, [])
            if tag not in ("input", "br", "img", "meta", "link", "hr"):
                self._open.append((tag, element_id))
        if tag == "form":
            self._form = {"attrs": attributes, "fields": {}, "by_id": {}, "options": {}}
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        name = attributes.get("name")
        if tag == "input" and name:
            kind = attributes.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                self._form["fields"].setdefault(name, None)
            elif kind not in ("submit", "button", "image", "reset"):
                self._form["fields"][name] = attributes.get("value", "")
        elif tag == "textarea" and name:
            self._form["fields"][name] = ""
        elif tag == "select" and name:
            self._select = name
            self._form["fields"].setdefault(name, None)
            self._form["options"][name] = []
        elif tag == "option" and self._select is not None:
            self._option = [attributes.get("value"), [], "selected" in attributes]
        if name and element_id:
            self._form["by_id"][element_id] = name

    def handle_endtag(self, tag):
        if tag == "option" and self._option is not None:
            self._finish_option()
        elif tag == "select":
            if self._option is not None:
                self._finish_option()
            self._select = None
        elif tag == "form":
            self._form = None
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index]
                break

    def _finish_option(self):
        value, parts, selected = self._option
        text = "".join(parts).strip()
        value = text if value is None else value
        options = self._form["options"][self._select]
        options.append((value, text))
        if selected or self._form["fields"].get(self._select) is None:
            self._form["fields"][self._select] = value
        self._option = None

    def handle_data(self, data):
        for _, element_id in self._open:
            self._texts[element_id].append(data)
        if self._option is not None:
            self._option[1].append(data)

    def text(self, element_id: str) -> str | None:
        parts = self._texts.get(element_id)
        return None if parts is None else " ".join("".join(parts).split())

    def form(self, form_id: str) -> dict:
        for form in self.forms:
            if form["attrs"].get("id") == form_id:
                return form
        raise AssertionError(f"no form#{form_id} on the page")


def parse_html(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    parser.close()
    return parser


def csrf_of(html: str, form_id: str | None = None) -> str:
    """The hidden `csrf_token` of the form with `form_id` (of the first form that has one when None)."""
    for form in parse_html(html).forms:
        if form_id is not None and form["attrs"].get("id") != form_id:
            continue
        if form["fields"].get("csrf_token"):
            return form["fields"]["csrf_token"]
    raise AssertionError(f"no csrf_token in {'form#' + form_id if form_id else 'any form'}:\n{html[:2000]}")


def form_data(html: str, form_id: str, **by_element_id: str) -> tuple[str, dict[str, str]]:
    """What a browser would post for `form#<form_id>` of `html`: its action and every named field with its value,
    the fields given here by their element ID (`name="…"` for `input#name`, `role="User"` for `select#role`, an
    option chosen by its value or text) set to the value given."""
    page = parse_html(html)
    form = page.form(form_id)
    fields = {name: value for name, value in form["fields"].items() if value is not None}
    for element_id, value in by_element_id.items():
        name = form["by_id"].get(element_id)
        assert name, f"form#{form_id} has no named field #{element_id} (fields by ID: {form['by_id']})"
        options = form["options"].get(name)
        if options is not None:
            matching = [v for v, text in options if value.lower() in (v.lower(), text.lower())]
            assert matching, f"select#{element_id} has no option {value!r}: {options}"
            value = matching[0]
        fields[name] = value
    return form["attrs"].get("action", ""), fields


def code_text(html: str, element_id: str) -> str | None:
    """The text of the element with `element_id` (such as `code#token-secret`) in `html`."""
    return parse_html(html).text(element_id)


# =================================================================================================================
# The OpenID provider
# =================================================================================================================


class OIDCProvider:
    """`python3 -m oidc_provider_mock` on a free port of 127.0.0.1, addressed as `http://localhost:<port>`: the
    provider names itself after the Host it is asked on (`iss` of its discovery document and of its ID tokens), so
    the issuer given to the server, the browser's authorization page and the server's token call all use that one
    name. It accepts any client ID and secret, and requires a `nonce` in every authorization request."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.issuer = f"http://localhost:{self.port}"
        self.log_path = log_dir / "oidc-provider.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    def start(self) -> "OIDCProvider":
        command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(self.port),
                   "--require-nonce", "true"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=clean_env(NO_COLOR="1", PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + PROVIDER_READY_DEADLINE
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the OpenID provider exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                response = requests.get(self.issuer + "/.well-known/openid-configuration", timeout=2)
                if response.status_code == 200:
                    discovered = response.json()
                    assert discovered["issuer"] == self.issuer, discovered
                    self.discovery = discovered
                    return self
                last = f"{response.status_code} {response.text[:200]!r}"
            except requests.RequestException as error:
                last = repr(error)
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"the OpenID provider did not answer within {PROVIDER_READY_DEADLINE:g} s (last: {last}):\n"
                    f"{self.log()[-4000:]}")

    @property
    def authorization_endpoint(self) -> str:
        return self.discovery["authorization_endpoint"]

    def set_user(self, sub: str, email: str, *, verified: bool = True, **claims) -> None:
        """The claims the provider gives `sub` from now on (`email`, `email_verified` and any others)."""
        response = requests.put(f"{self.issuer}/users/{sub}", json={"email": email, "email_verified": verified, **claims},
                                timeout=10)
        assert response.status_code == 204, f"PUT /users/{sub}: {response.status_code} {response.text[:300]}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def authorize_at_provider(browser: Browser, provider: OIDCProvider, sub: str, shot: str | None = None) -> dict:
    """On the provider's authorization page (where the console sent the browser): types `sub`, presses Authorize.
    Answers the query of the authorization request, as the console made it."""
    browser.wait_until("the provider's authorization page",
                       lambda: browser.url.startswith(provider.authorization_endpoint) and browser.has("input[name=sub]"))
    from urllib.parse import parse_qs

    request = {key: values[0] for key, values in parse_qs(urlparse(browser.url).query).items()}
    field_ = browser.find("input[name=sub]")
    field_.clear()
    field_.send_keys(sub)
    if shot:
        browser.shot(shot)
    buttons = [b for b in browser.all("form button[type=submit]") if b.text.strip().lower() == "authorize"]
    assert buttons, "no Authorize button on the provider's page"
    buttons[0].click()
    browser.wait_until("back from the provider", lambda: not browser.url.startswith(provider.issuer) and browser.ready())
    return request


# =================================================================================================================
# Another origin: a page of a different site
# =================================================================================================================


class OtherSite:
    """A web server on 127.0.0.1 and a port of its own serving fixed HTML pages, such as a form that posts itself to
    the console. As `http://localhost:<port>` (`origin`) it is another site than the console's `127.0.0.1`, so a
    browser does not send SameSite=Lax cookies with its posts; as `http://127.0.0.1:<port>` (`same_site_origin`) it is
    another origin of the same site (ports do not make sites), so the browser does send them, and only the CSRF token
    stands in the way."""

    def __init__(self):
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = pages.get(self.path.split("?", 1)[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://localhost:{self.server.server_address[1]}"
        self.same_site_origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def page(self, path: str, html: str, *, same_site: bool = False) -> str:
        self.pages[path] = html
        return (self.same_site_origin if same_site else self.origin) + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# =================================================================================================================
# The console's admin commands
# =================================================================================================================


@dataclass
class AdminOutput:
    returncode: int
    stdout: str
    stderr: str
    json: object | None


def admin(server: ServerProcess, *args: str, json_output: bool = True, check: bool = True) -> AdminOutput:
    """`cloudfleet-server admin …` against the server's data directory (and database and key, when it has them);
    fails unless it exits 0 (when `check`)."""
    command = [str(server.binary), "admin", *args, "--data-dir", str(server.data_dir)]
    if json_output:
        command += ["--output", "json"]
    if "--database-url" in server.extra_args:
        command += ["--database-url", server.extra_args[server.extra_args.index("--database-url") + 1]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env=clean_env(SWIFT_BACKTRACE="enable=no", **server.extra_env))
    assert done.returncode == 0 or not check, \
        f"admin {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    try:
        parsed = json.loads(done.stdout)
    except ValueError:
        parsed = None
    return AdminOutput(done.returncode, done.stdout, done.stderr, parsed)


def create_user(server: ServerProcess, email: str, role: str, organization_id: str | None = None) -> AdminOutput:
    args = ["create-user", "--email", email, "--role", role]
    if organization_id:
        args += ["--organization", organization_id]
    return admin(server, *args)


def sign_in_link(server: ServerProcess, email: str, *extra: str) -> str:
    """The link `admin sign-in-link --email EMAIL` prints (with the server's `--public-url`): the `url` of its JSON,
    else the line that is a URL."""
    if "--public-url" in server.extra_args and "--public-url" not in extra:
        # The link is made of the public URL, which the admin command takes like `serve` does.
        extra = (*extra, "--public-url", server.extra_args[server.extra_args.index("--public-url") + 1])
    printed = admin(server, "sign-in-link", "--email", email, *extra)
    url = None
    if isinstance(printed.json, dict) and isinstance(printed.json.get("url"), str):
        url = printed.json["url"]
    else:
        for line in printed.stdout.splitlines():
            if line.strip().startswith(("http://", "https://")):
                url = line.strip()
                break
    assert url, f"admin sign-in-link printed no link:\n{printed.stdout}\n{printed.stderr}"
    return url
