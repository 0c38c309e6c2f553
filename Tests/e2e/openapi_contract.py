"""Checks real responses against the OpenAPI document, the API's source of truth.

`check(method, path, response)` finds the documented operation for the request, requires the status code to be
documented for it, and validates a JSON body against the documented schema (JSON Schema 2020-12, as OpenAPI 3.1
uses). The end-to-end helper `api()` calls it on every response, so every test is also a contract test.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = Path(__file__).resolve().parents[2] / "Sources" / "CloudfleetAPI" / "openapi.yaml"
ROOT = "urn:cloudfleet:openapi"


@lru_cache(maxsize=1)
def _document() -> dict:
    return yaml.safe_load(DOCUMENT.read_text())


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resource(ROOT, Resource.from_contents(_document(), default_specification=DRAFT202012))


@lru_cache(maxsize=1)
def _routes() -> list[tuple[re.Pattern, str]]:
    routes = []
    for template in _document()["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        routes.append((re.compile(pattern), template))
    return routes


def _resolve(node: dict) -> dict:
    """Follows a local `$ref` (responses are often shared components)."""
    while isinstance(node, dict) and "$ref" in node:
        node = _registry().resolver(base_uri=ROOT).lookup(node["$ref"]).contents
    return node


def check(method: str, path: str, response) -> None:
    """Fails the test unless `response` to `method path` is what the document promises."""
    path = path.split("?", 1)[0]
    template = next((t for pattern, t in _routes() if pattern.match(path)), None)
    if template is None:
        assert response.status_code == 404, f"{method} {path}: undocumented path answered {response.status_code}"
        return
    operation = _document()["paths"][template].get(method.lower())
    if operation is None:
        assert response.status_code in (404, 405), f"{method} {template}: undocumented method answered {response.status_code}"
        return
    responses = operation["responses"]
    spec = responses.get(str(response.status_code)) or responses.get(f"{response.status_code // 100}XX") or responses.get("default")
    assert spec is not None, f"{method} {template}: status {response.status_code} is not documented ({response.text[:300]})"
    spec = _resolve(spec)
    content = spec.get("content") or {}
    media = response.headers.get("Content-Type", "").split(";")[0].strip()
    if not content:
        return
    assert media in content, f"{method} {template} {response.status_code}: content type {media!r} not documented ({list(content)})"
    schema = content[media].get("schema")
    if media != "application/json" or schema is None:
        return
    # Local references inside the schema point into the document.
    validator = Draft202012Validator({"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": ROOT + "/check",
                                      "allOf": [_rebase(schema)]}, registry=_registry())
    errors = sorted(validator.iter_errors(response.json()), key=lambda error: list(error.path))
    assert not errors, f"{method} {template} {response.status_code}: body breaks the schema: {errors[0].message} at {list(errors[0].path)}"


def _rebase(schema):
    """Rewrites `#/…` references to point at the document resource."""
    if isinstance(schema, dict):
        return {key: (ROOT + value if key == "$ref" and isinstance(value, str) and value.startswith("#") else _rebase(value))
                for key, value in schema.items()}
    if isinstance(schema, list):
        return [_rebase(item) for item in schema]
    return schema
