"""HTTP trigger router: an FC 3.0 HTTP event (decoded JSON) in, an FC answer dict out.

Routes (design.md "HTTP trigger"): ``GET /healthz`` (no auth), ``GET /status``, ``POST /check``
(``?dryRun=true``). Every answer is JSON, a client mistake is a 4xx, and every body is scrubbed of
secrets. ``/healthz`` must stay cheap: the cloud SDKs (and the modules that import them) are
imported inside the routes that need them, never at module level.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from . import logs
from .secrets import register_secrets, scrub, scrub_value, url_secrets

if TYPE_CHECKING:
    from .settings import Settings

TOKEN_VARIABLE = "TASKWATCH_HTTP_TOKEN"
MIN_TOKEN_LENGTH = 16  # the same rule as settings.load_settings
DRY_RUN_KEYS = ("dryrun", "dry_run", "dry-run")
TRUE_VALUES = ("true", "1", "")  # a bare `?dryRun` means yes: the safe reading of a flag
FALSE_VALUES = ("false", "0")
# Variables whose values must never reach an answer or a log line, registered before anything runs
# so that even a settings error quoting one is scrubbed.
SECRET_VARIABLES = (
    TOKEN_VARIABLE,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "DINGTALK_SECRET",
)


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
    local: bool = False  # served by `taskwatch serve`, not by FC


Handler = Callable[[Request, Any], Answer]


def handle_http(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Never raises: a client mistake is a 4xx, our own failure a JSON 500 without details."""
    started = time.monotonic()
    _register_env_secrets(os.environ)
    method, path = "-", "-"
    try:
        request = parse_request(event, local=bool(getattr(context, "taskwatch_local", False)))
        method, path = request.method, request.path
        answer = route(request, context)
    except HttpError as err:
        answer = err.answer
    except Exception as err:
        # The type only: exception texts can carry signed URLs, and a traceback helps no caller.
        logs.event("http_failed", logging.ERROR, exception=type(err).__name__)
        rid = str(getattr(context, "request_id", None) or "-")
        answer = Answer(500, {"error": f"internal error; see the function log for request {rid}"})
    logs.event(
        "http_request",
        logging.WARNING if answer.status >= 500 else logging.INFO,
        method=_shown(method, 20),
        path=_shown(path),
        status=answer.status,
        ms=int((time.monotonic() - started) * 1000),
    )
    return answer.to_fc()


# --- the event --------------------------------------------------------------------------------


def parse_request(event: Mapping[str, Any], *, local: bool = False) -> Request:
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
        local=local,
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


# --- routing and auth ---------------------------------------------------------------------------


def route(request: Request, context: Any) -> Answer:
    if request.path != "/healthz":
        # Before routing, so that 401/403 say nothing about which paths exist.
        authorize(request.headers)
    handlers = ROUTES.get(request.path)
    if handlers is None:
        raise HttpError(404, f"no route {_shown(request.path)!r}; routes: {', '.join(ROUTES)}")
    allow = _allow(handlers)
    if request.method == "OPTIONS":
        return Answer(200, {"allow": allow}, {"Allow": ", ".join(allow)})
    method = "GET" if request.method == "HEAD" and "GET" in handlers else request.method
    handler = handlers.get(method)
    if handler is None:
        raise HttpError(
            405,
            f"{_shown(request.method, 20)} is not allowed on {request.path}; use {', '.join(allow)}",
            {"Allow": ", ".join(allow)},
        )
    # HEAD answers what GET would: FC and `taskwatch serve` drop the body on the wire.
    return handler(request, context)


def _allow(handlers: Mapping[str, Handler]) -> list[str]:
    methods = set(handlers) | {"OPTIONS"} | ({"HEAD"} if "GET" in handlers else set())
    order = ["GET", "HEAD", "POST", "OPTIONS"]
    return [m for m in order if m in methods] + sorted(methods - set(order))


def configured_token(env: Mapping[str, str]) -> str | None:
    """The bearer token, or None when none is usable (unset, or too short: fail closed)."""
    token = env.get(TOKEN_VARIABLE, "").strip()
    if not token:
        return None
    if len(token) < MIN_TOKEN_LENGTH:
        logs.event(
            "bad_settings",
            logging.ERROR,
            variable=TOKEN_VARIABLE,
            cause=f"too short ({len(token)} characters); use {MIN_TOKEN_LENGTH}+ random characters",
        )
        return None
    return token


def authorize(headers: Mapping[str, str]) -> None:
    token = configured_token(os.environ)
    if token is None:
        raise HttpError(403, f"the HTTP API is disabled: set {TOKEN_VARIABLE} (16+ characters) to enable it")
    value = headers.get("authorization", "")
    # Repeated Authorization headers arrive comma-joined; try the whole value and every part,
    # comparing each in constant time and without stopping early.
    expected = token.encode("utf-8")
    ok = False
    for candidate in [value, *value.split(",")] if value else []:
        scheme, _, credential = candidate.strip().partition(" ")
        same = hmac.compare_digest(credential.strip().encode("utf-8", "replace"), expected)
        ok |= same & (scheme.lower() == "bearer")
    if not ok:
        problem = (
            "wrong bearer token"
            if value
            else "missing bearer token: send the header `Authorization` with the value `Bearer <token>`"
        )
        raise HttpError(401, problem, {"WWW-Authenticate": 'Bearer realm="taskwatch"'})


# --- routes -----------------------------------------------------------------------------------


def healthz(request: Request, context: Any) -> Answer:
    return Answer(200, {"ok": True})


def status_body(settings: Settings) -> dict[str, Any]:
    """``{"targets": {key: stored entry or None}, "revision": n or None, "state": location}``.

    The one shape of a status, for ``GET /status`` and ``taskwatch status`` alike; reads the state
    and writes nothing. Raises the store's TickError or StoreError when the state cannot be read.
    """
    from .store import open_store
    from .tick import load_state

    state = load_state(open_store(settings), copy_aside=False)  # a status read writes nothing
    stored = state.to_json()["targets"] if state else {}
    return {
        "targets": {t.key: stored.get(t.key) for t in settings.targets},
        "revision": state.revision if state else None,
        "state": settings.state.describe(),
    }


def status(request: Request, context: Any) -> Answer:
    settings = _settings(request, context, credentials=False)
    from .store import StoreError
    from .tick import TickError

    try:
        return Answer(200, status_body(settings))
    except (TickError, StoreError) as err:
        raise HttpError(502, f"cannot read the stored state: {err}") from None


def check(request: Request, context: Any) -> Answer:
    dry_run = _dry_run(request)  # before the settings: a bad request is the caller's to fix first
    settings = _settings(request, context, credentials=True)
    from .app import read_budget, read_failure_cause, tick
    from .store import StoreError
    from .tick import TickError

    try:
        result = tick(settings, dry_run=dry_run, read_budget_s=read_budget(context))
    except TickError as err:
        return Answer(502, {"error": err.cause, **(err.result.to_json() if err.result else {})})
    except StoreError as err:
        raise HttpError(502, f"state store: {err}") from None
    body = result.to_json()
    cause = read_failure_cause(result)
    if cause:  # the tick itself worked: a 200 that says which targets it could not read
        body["warning"] = cause
    return Answer(200, body)


ROUTES: dict[str, dict[str, Handler]] = {
    "/healthz": {"GET": healthz},
    "/status": {"GET": status},
    "/check": {"POST": check},
}


def _dry_run(request: Request) -> bool:
    values: list[str] = []
    for key, value in request.query.items():
        if key.lower() not in DRY_RUN_KEYS:
            # Strict on purpose: a mistyped dry-run flag must not turn into a real, sending tick.
            raise HttpError(400, f"unknown query parameter {_shown(key, 40)!r}; /check takes only dryRun")
        values.extend(value.split(","))
    if request.body.strip():
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, 'malformed body: expected nothing or a JSON object like {"dryRun": true}') from None
        if not isinstance(data, dict) or set(data) - {"dryRun"}:
            raise HttpError(400, 'malformed body: expected nothing or a JSON object like {"dryRun": true}')
        if "dryRun" in data:
            if not isinstance(data["dryRun"], bool):
                raise HttpError(400, "malformed body: dryRun must be true or false")
            values.append("true" if data["dryRun"] else "false")
    seen: set[bool] = set()
    for value in values:
        word = value.strip().lower()
        if word not in TRUE_VALUES + FALSE_VALUES:
            raise HttpError(400, f"dryRun must be true or false, not {_shown(value, 40)!r}")
        seen.add(word in TRUE_VALUES)
    if len(seen) > 1:
        raise HttpError(400, "dryRun is given as both true and false")
    return seen == {True}


def _settings(request: Request, context: Any, *, credentials: bool) -> Settings:
    """Settings for a route; a bad one is our misconfiguration: a 500 naming the variable.

    Only an authenticated caller gets this far, so naming the variable helps the operator and
    tells a stranger nothing; the value itself is masked by settings and scrubbed again here.
    """
    from .settings import SettingsError, load_settings

    try:
        settings = load_settings(os.environ, context, invoked_by_fc=not request.local, require_credentials=credentials)
    except SettingsError as err:
        cause = scrub(str(err))
        logs.event("bad_settings", logging.ERROR, variable=err.variable, cause=cause)
        raise HttpError(500, f"bad setting {cause}") from None
    from .app import remember_secrets

    remember_secrets(settings)
    return settings


def _register_env_secrets(env: Mapping[str, str]) -> None:
    values = [env.get(name, "").strip() for name in SECRET_VARIABLES]
    register_secrets([*values, *url_secrets(env.get("DINGTALK_WEBHOOK"))])


def _shown(text: str, limit: int = 80) -> str:
    """Caller input fit for an error message or a log field: bounded, encodable, scrubbed.

    A lone surrogate (valid in a JSON event, not in UTF-8) would break the log line's write.
    """
    text = text if len(text) <= limit else text[:limit] + "..."
    return scrub(text.encode("utf-8", "backslashreplace").decode("utf-8"))
