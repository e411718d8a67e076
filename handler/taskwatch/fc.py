"""Function Compute entry: unwrap the event, build settings, run a tick (timer) or route (HTTP).

Imports stay light at module level so a cold start pays only for what the event needs.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import logs
from .redact import scrub

if TYPE_CHECKING:
    from .settings import Settings
    from .wiring import Wiring

SUMMARY_PAYLOAD = "summary"  # a timer event with this payload runs the summary instead of a tick


class EventError(ValueError):
    """The event is not one this function knows."""


@dataclass(frozen=True)
class TimerEvent:
    trigger_time: str
    trigger_name: str
    payload: str


def parse_event(event: Any) -> tuple[str, dict[str, Any]]:
    """("timer" | "http", the decoded JSON object); EventError for anything else."""
    if isinstance(event, (bytes, bytearray)):
        try:
            event = bytes(event).decode("utf-8")
        except UnicodeDecodeError:
            raise EventError("event is not UTF-8") from None
    if isinstance(event, str):
        try:
            event = json.loads(event) if event.strip() else {}
        except ValueError:
            raise EventError("event is not JSON") from None
    if not isinstance(event, dict):
        raise EventError(f"event is a JSON {type(event).__name__}, not an object")
    if "requestContext" in event or ("rawPath" in event and "headers" in event):
        return "http", event
    if "triggerTime" in event or "triggerName" in event:
        return "timer", event
    raise EventError("event is neither a timer event (triggerTime) nor an HTTP trigger event (requestContext)")


def timer_event(data: dict[str, Any]) -> TimerEvent:
    return TimerEvent(
        trigger_time=str(data.get("triggerTime", "")),
        trigger_name=str(data.get("triggerName", "")),
        payload=str(data.get("payload", "")),
    )


def resolve_wiring(wiring: Wiring | None) -> Wiring:
    """None: this process's. Resolved only where a tick or a state read needs it, so that a
    `/healthz` never imports the wiring (and the SDK-loading modules it imports)."""
    if wiring is not None:
        return wiring
    from .wiring import PROCESS

    return PROCESS


def handle(event: Any, context: Any, wiring: Wiring | None = None) -> Any:
    """``wiring`` None: this process's (FC's call); tests, the demo and `serve` pass their own."""
    logs.setup()
    token = logs.request_id.set(str(getattr(context, "request_id", None) or "-"))
    try:
        kind, data = parse_event(event)
        if kind == "http":
            from .http_api import handle_http

            return handle_http(data, context, wiring)
        return handle_timer(timer_event(data), context, wiring)
    except EventError as err:
        logs.event("bad_event", logging.ERROR, cause=str(err))
        raise
    finally:
        logs.request_id.reset(token)


def handle_timer(event: TimerEvent, context: Any, wiring: Wiring | None) -> str:
    from .settings import SettingsError
    from .tick import TickError
    from .wiring import load, read_budget, read_failure_cause, tick

    wiring = resolve_wiring(wiring)
    summary = event.payload.strip() == SUMMARY_PAYLOAD
    logs.event("summary_start" if summary else "tick_start", trigger=event.trigger_name, triggerTime=event.trigger_time)
    try:
        settings = load(os.environ, context, wiring=wiring)
    except SettingsError as err:
        logs.event("bad_settings", logging.ERROR, variable=err.variable, cause=scrub(str(err)))
        raise
    if summary:
        return run_summary(event, settings, wiring)
    try:
        result = tick(settings, wiring=wiring, read_budget_s=read_budget(context))
    except TickError as err:
        # A failed invocation with a one-line cause; s.yaml sets no async retries, the next tick retries.
        raise RuntimeError(err.cause) from None
    cause = read_failure_cause(result)
    if cause:
        logs.event("tick_failed", logging.ERROR, cause=cause)
        raise RuntimeError(cause)
    return json.dumps(result.to_json(), ensure_ascii=False)


def run_summary(event: TimerEvent, settings: Settings, wiring: Wiring) -> str:
    """The summary instead of a tick; a failed delivery fails the invocation, with a one-line cause."""
    from .ports import StoreError
    from .summary_run import run
    from .tick import TickError

    try:
        result = run(settings, wiring=wiring, trigger_time=event.trigger_time)
    except TickError as err:
        raise RuntimeError(scrub(err.cause)) from None
    except StoreError as err:
        raise RuntimeError(scrub(f"state store: {err}")) from None
    cause = result.failure()
    if cause:
        logs.event("summary_failed", logging.ERROR, cause=cause)
        raise RuntimeError(cause)
    return json.dumps(result.to_json(), ensure_ascii=False)
