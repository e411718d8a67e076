"""HTTP trigger router: an FC 3.0 HTTP event (decoded JSON) in, an FC answer dict out.

Routes: ``GET /healthz`` (no auth), ``GET /status``, ``POST /check`` and ``POST /summary``
(``?dryRun=true``). Every answer is JSON, a client mistake is a 4xx, and every body is scrubbed of
secrets. ``/healthz`` must stay cheap: the cloud SDKs (and the modules that import them) are
imported inside the routes that need them, never at module level.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import logs
from .http_event import Answer, HttpError, Request, parse_request, shown
from .http_summary import summary
from .redact import register_secrets, scrub, url_secrets
from .setting_values import MIN_TOKEN_LENGTH

if TYPE_CHECKING:
    from .settings import Settings
    from .state import State
    from .wiring import Wiring

TOKEN_VARIABLE = "TASKWATCH_HTTP_TOKEN"
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


Handler = Callable[[Request, Any, "Wiring | None"], Answer]


def handle_http(event: Mapping[str, Any], context: Any, wiring: Wiring | None) -> dict[str, Any]:
    """Never raises: a client mistake is a 4xx, our own failure a JSON 500 without details."""
    started = time.monotonic()
    _register_env_secrets(os.environ)
    method, path = "-", "-"
    try:
        request = parse_request(event)
        method, path = request.method, request.path
        answer = route(request, context, wiring)
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
        method=shown(method, 20),
        path=shown(path),
        status=answer.status,
        ms=int((time.monotonic() - started) * 1000),
    )
    return answer.to_fc()


# --- routing and auth ---------------------------------------------------------------------------


def route(request: Request, context: Any, wiring: Wiring | None) -> Answer:
    if request.path != "/healthz":
        # Before routing, so that 401/403 say nothing about which paths exist.
        authorize(request.headers)
    handlers = ROUTES.get(request.path)
    if handlers is None:
        raise HttpError(404, f"no route {shown(request.path)!r}; routes: {', '.join(ROUTES)}")
    allow = _allow(handlers)
    if request.method == "OPTIONS":
        return Answer(200, {"allow": allow}, {"Allow": ", ".join(allow)})
    method = "GET" if request.method == "HEAD" and "GET" in handlers else request.method
    handler = handlers.get(method)
    if handler is None:
        raise HttpError(
            405,
            f"{shown(request.method, 20)} is not allowed on {request.path}; use {', '.join(allow)}",
            {"Allow": ", ".join(allow)},
        )
    # HEAD answers what GET would: FC and `taskwatch serve` drop the body on the wire.
    return handler(request, context, wiring)


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
        raise HttpError(
            403, f"the HTTP API is disabled: set {TOKEN_VARIABLE} ({MIN_TOKEN_LENGTH}+ characters) to enable it"
        )
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


def healthz(request: Request, context: Any, wiring: Wiring | None) -> Answer:
    return Answer(200, {"ok": True})


def status_body(settings: Settings, wiring: Wiring) -> dict[str, Any]:
    """``{"targets": {key: stored entry or None}, "revision": n or None, "state": location}``, and
    ``"discovered": {wildcard: its listing}`` when wildcards are watched (each listed instance is
    then one of the targets), and ``"channels"``: each channel's pending changes and failures.

    The one shape of a status, for ``GET /status`` and ``taskwatch status`` alike; reads the state
    and writes nothing. Raises the store's TickError or StoreError when the state cannot be read.
    """
    from .stores import open_store
    from .summary import watched_keys
    from .tick import load_state

    state = load_state(open_store(settings, wiring.timeouts), copy_aside=False)  # a status read writes nothing
    data = state.to_json() if state else {}
    stored = data.get("targets", {})
    keys = watched_keys(settings.targets, state)  # the named targets, then every wildcard's listed ones
    listings = {t.key: data.get("discovered", {}).get(t.key) for t in settings.targets if t.is_wildcard}
    now = wiring.clock()
    body: dict[str, Any] = {
        "targets": {key: _with_eta(stored.get(key), state, key, now) for key in dict.fromkeys(keys)},
        "revision": state.revision if state else None,
        "state": settings.state.describe(),
    }
    if listings:
        body["discovered"] = listings
    owed = state.channels if state else {}
    body["channels"] = {
        channel.name: {
            "type": channel.type,
            "pending": len(owed[channel.name].pending) if channel.name in owed else 0,
            "dropped": owed[channel.name].dropped if channel.name in owed else 0,
            "failures": owed[channel.name].failures if channel.name in owed else 0,
            "lastError": owed[channel.name].last_error if channel.name in owed else None,
        }
        for channel in settings.channels
    }
    return body


def _with_eta(entry: dict[str, Any] | None, state: State | None, key: str, now: int) -> dict[str, Any] | None:
    """A running target's entry with ``etaMs``, its estimated end by its progress samples (or None)."""
    if entry is None or state is None or entry.get("status") != "running":
        return entry
    from .insight import eta

    return {**entry, "etaMs": eta(state.targets[key].history, now)}


def status(request: Request, context: Any, wiring: Wiring | None) -> Answer:
    from .fc import resolve_wiring

    wiring = resolve_wiring(wiring)
    settings = _settings(context, wiring, credentials=False)
    from .stores import StoreError
    from .tick import TickError

    try:
        return Answer(200, status_body(settings, wiring))
    except (TickError, StoreError) as err:
        raise HttpError(502, f"cannot read the stored state: {err}") from None


def check(request: Request, context: Any, wiring: Wiring | None) -> Answer:
    dry_run = _dry_run(request)  # before the settings: a bad request is the caller's to fix first
    from .fc import resolve_wiring

    wiring = resolve_wiring(wiring)
    settings = _settings(context, wiring, credentials=True)
    from .stores import StoreError
    from .tick import TickError
    from .wiring import read_budget, read_failure_cause, tick

    try:
        result = tick(settings, wiring=wiring, dry_run=dry_run, read_budget_s=read_budget(context))
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
    "/summary": {"POST": summary},
}


def _dry_run(request: Request) -> bool:
    values: list[str] = []
    for key, value in request.query.items():
        if key.lower() not in DRY_RUN_KEYS:
            # Strict on purpose: a mistyped dry-run flag must not turn into a real, sending tick.
            raise HttpError(400, f"unknown query parameter {shown(key, 40)!r}; {request.path} takes only dryRun")
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
            raise HttpError(400, f"dryRun must be true or false, not {shown(value, 40)!r}")
        seen.add(word in TRUE_VALUES)
    if len(seen) > 1:
        raise HttpError(400, "dryRun is given as both true and false")
    return seen == {True}


def _settings(context: Any, wiring: Wiring, *, credentials: bool) -> Settings:
    """Settings for a route; a bad one is our misconfiguration: a 500 naming the variable.

    Only an authenticated caller gets this far, so naming the variable helps the operator and
    tells a stranger nothing; the value itself is masked by settings and scrubbed again here.
    """
    from .settings import SettingsError
    from .wiring import load

    try:
        settings = load(os.environ, context, wiring=wiring, require_credentials=credentials)
    except SettingsError as err:
        cause = scrub(str(err))
        logs.event("bad_settings", logging.ERROR, variable=err.variable, cause=cause)
        raise HttpError(500, f"bad setting {cause}") from None
    from .wiring import remember_secrets

    remember_secrets(settings)
    return settings


def _register_env_secrets(env: Mapping[str, str]) -> None:
    values = [env.get(name, "").strip() for name in SECRET_VARIABLES]
    register_secrets([*values, *url_secrets(env.get("DINGTALK_WEBHOOK"))])
