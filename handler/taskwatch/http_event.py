"""The FC 3.0 HTTP trigger event as the router needs it, and the answer it gives back.

Never trusts the event: a malformed one is an HttpError 400; every answer body is JSON and is
scrubbed of secrets before and after encoding.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .redact import scrub, scrub_value


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def to_fc(self) -> dict[str, Any]:
        body = scrub_value(self.body)  # before encoding too: escaping would hide a secret's `"` or `\`
        text = json.dumps(body, ensure_ascii=False, default=str)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from some input: fall back to \u escapes
            text = json.dumps(body, ensure_ascii=True, default=str)
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store", **self.headers}
        return {"statusCode": self.status, "headers": headers, "isBase64Encoded": False, "body": scrub(text)}


class HttpError(Exception):
    """Ends a request with ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.answer = Answer(status, {"error": scrub(message)}, headers or {})


@dataclass(frozen=True)
class Request:
    method: str  # upper case
    path: str  # percent-decoded, no trailing slash
    query: Mapping[str, str]  # repeated parameters comma-joined, as FC sends them
    headers: Mapping[str, str]  # lower-case names; repeated headers comma-joined
    body: bytes


def parse_request(event: Mapping[str, Any]) -> Request:
    """The parts of an FC 3.0 HTTP event the router needs; HttpError 400 when they are malformed."""
    ctx = event.get("requestContext")
    if not isinstance(ctx, dict):
        raise HttpError(400, "malformed event: requestContext is missing or not an object")
    http = ctx.get("http")
    if not isinstance(http, dict):
        raise HttpError(400, "malformed event: requestContext.http is missing or not an object")
    method = http.get("method")
    if not isinstance(method, str) or not method.strip():
        raise HttpError(400, "malformed event: requestContext.http.method is missing or not a string")
    # FC decodes requestContext.http.path already: decoding it again would turn "/status%2F" into
    # "/status/". Only the raw path of the fallback is still percent-encoded.
    if http.get("path") is not None:
        path = http.get("path")
        if not isinstance(path, str):
            raise HttpError(400, "malformed event: requestContext.http.path is not a string")
    else:
        raw_path = event.get("rawPath")
        if not isinstance(raw_path, str):
            raise HttpError(400, "malformed event: neither requestContext.http.path nor rawPath is a string")
        path = unquote(raw_path, errors="replace")
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return Request(
        method=method.strip().upper(),
        path=path,
        query=_string_map(event.get("queryParameters"), "queryParameters", lower=False),
        headers=_string_map(event.get("headers"), "headers", lower=True),
        body=_body(event.get("body"), event.get("isBase64Encoded")),
    )


def _string_map(value: Any, name: str, *, lower: bool) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HttpError(400, f"malformed event: {name} is not an object")
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, list) and all(isinstance(i, str) for i in item):
            item = ",".join(item)
        if not isinstance(key, str) or not isinstance(item, str):
            raise HttpError(400, f"malformed event: {name} values must be strings")
        key = key.lower() if lower else key
        # `Authorization` and `authorization` are one header: join them as FC joins repeats.
        out[key] = f"{out[key]},{item}" if key in out else item
    return out


def _body(body: Any, is_base64: Any) -> bytes:
    if is_base64 is None:
        is_base64 = False
    if not isinstance(is_base64, bool):
        raise HttpError(400, "malformed event: isBase64Encoded is not a boolean")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise HttpError(400, "malformed event: body is not a string")
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "malformed body: isBase64Encoded is true but the body is not base64") from None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        raise HttpError(400, "malformed body: not valid UTF-8 text") from None


def shown(text: str, limit: int = 80) -> str:
    """Caller input fit for an error message or a log field: bounded, encodable, scrubbed.

    A lone surrogate (valid in a JSON event, not in UTF-8) would break the log line's write.
    """
    text = text if len(text) <= limit else text[:limit] + "..."
    return scrub(text.encode("utf-8", "backslashreplace").decode("utf-8"))
