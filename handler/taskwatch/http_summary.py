"""``POST /summary`` (``?dryRun=true``): the summary now, as the timer's ``summary`` event sends it,
or each channel's message rendered and left unsent. A route of ``http_api``'s router, kept apart
so that the router stays small; it is imported with the router, so it imports nothing heavy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .http_event import Answer, HttpError, Request

if TYPE_CHECKING:
    from .wiring import Wiring


def summary(request: Request, context: Any, wiring: Wiring | None) -> Answer:
    """200 ``{"hour", "channels": {name: outcome}, "targets", "text" (dry run)}``; 502 with an
    ``error`` when a channel did not get its summary or the state cannot be read."""
    from . import http_api  # the router's dry-run flag and settings, read as for /check
    from .fc import resolve_wiring
    from .ports import StoreError
    from .summary_run import run
    from .tick import TickError

    dry_run = http_api._dry_run(request)  # before the settings: a bad request is the caller's to fix first
    wiring = resolve_wiring(wiring)
    # A summary reads no task: no credentials are needed unless the state is in OSS.
    settings = http_api._settings(context, wiring, credentials=False)
    try:
        result = run(settings, wiring=wiring, dry_run=dry_run)
    except (TickError, StoreError) as err:
        raise HttpError(502, f"cannot read the stored state: {err}") from None
    body = result.to_json()
    cause = result.failure()
    return Answer(502, {"error": cause, **body}) if cause else Answer(200, body)
