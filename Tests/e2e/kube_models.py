"""The official Kubernetes Python client's models (PyPI `kubernetes`), used the same way on every supported major.

kubernetes <= 36 generates "python-legacy" models; 37 and later generate pydantic v2 models, and
`ApiClient.deserialize` changed its signature (see /work/shared/reference/kubernetes-auth.md §7):

- <= 36: `ApiClient().deserialize(response_with_.data, "V1TokenReview")`
- >= 37: `ApiClient().deserialize(json_text, "V1TokenReview", "application/json")`

In both, `ApiClient().sanitize_for_serialization(obj)` gives the wire form (camelCase keys, `None` dropped), while
`obj.to_dict()` gives snake_case keys, which is not the wire form and must never be sent.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client
from kubernetes.client import ApiClient

_api = ApiClient()


def _pydantic_models() -> bool:
    """Whether this client generates pydantic models (kubernetes >= 37)."""
    model = client.V1TokenReview
    return "from_dict" in vars(model) or hasattr(model, "model_validate")


def parse(raw: str | bytes | dict, type_name: str) -> Any:
    """`raw` (wire JSON, as text or already decoded) as the client's model `type_name`, such as "V1TokenReview".

    Both generations validate required fields (a `ValueError` or pydantic `ValidationError` when one is missing).
    """
    text = raw if isinstance(raw, str) else raw.decode() if isinstance(raw, bytes) else json.dumps(raw)
    if _pydantic_models():
        return _api.deserialize(text, type_name, "application/json")

    class _Response:  # what the legacy ApiClient.deserialize reads
        data = text

    return _api.deserialize(_Response(), type_name)


def parse_token_review(raw: str | bytes | dict) -> client.V1TokenReview:
    """A TokenReview, such as a webhook's answer.

    The models require `spec` (with `spec.token`), as the OpenAPI schema does, but a webhook's answer need not carry
    one: the kube-apiserver ignores the answer's spec, and its Go decoder takes a missing one as empty. An answer
    without `spec` is read the same way here, with an empty one.
    """
    body = json.loads(raw) if isinstance(raw, (str, bytes)) else dict(raw)
    if isinstance(body, dict) and body.get("spec") is None:
        body["spec"] = {"token": ""}
    return parse(body, "V1TokenReview")


def to_wire(obj: Any) -> Any:
    """The wire form of a model: camelCase keys, `None` values dropped."""
    return _api.sanitize_for_serialization(obj)


def token_review(token: str, *, api_version: str = "authentication.k8s.io/v1", audiences: list[str] | None = None) -> dict:
    """A TokenReview request as a kube-apiserver sends it, built with the client's models, in wire form.

    The client has no v1beta1 model (the API left the server in 1.22); the v1beta1 TokenReview has the same schema,
    so the v1 model with `api_version` set to v1beta1 serializes exactly what a v1beta1 webhook client sends.
    """
    review = client.V1TokenReview(api_version=api_version, kind="TokenReview",
                                  spec=client.V1TokenReviewSpec(token=token, audiences=audiences))
    return to_wire(review)


def self_subject_review(username: str, uid: str | None, groups: list[str], extra: dict[str, list[str]] | None) -> dict:
    """A SelfSubjectReview answer (authentication.k8s.io/v1) in wire form, as the kube-apiserver returns it."""
    review = client.V1SelfSubjectReview(
        api_version="authentication.k8s.io/v1", kind="SelfSubjectReview", metadata=client.V1ObjectMeta(),
        status=client.V1SelfSubjectReviewStatus(user_info=client.V1UserInfo(username=username, uid=uid or None, groups=groups,
                                                                           extra=extra or None)))
    return to_wire(review)
