"""Wiring: settings -> the real OpenSearch reader, state store and notifier -> one tick."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import logs
from .dingtalk import ConsoleNotifier, DingTalkNotifier, Notifier
from .model import FailureKind
from .opensearch import OpenSearchClient, TaskReader
from .secrets import register_secrets, scrub, url_secrets
from .settings import Settings, SettingsError
from .store import StateStore, open_store
from .tick import TickError, TickResult, run_tick


@dataclass(frozen=True)
class Services:
    reader: TaskReader
    store: StateStore
    notifier: Notifier


def remember_secrets(settings: Settings) -> None:
    creds = settings.credentials
    register_secrets(
        [
            creds.access_key_secret if creds else None,
            creds.security_token if creds else None,
            settings.dingtalk_secret,
            settings.http_token,
            *url_secrets(settings.dingtalk_webhook),
        ]
    )


def build_services(settings: Settings) -> Services:
    if settings.credentials is None:
        raise SettingsError("ALIBABA_CLOUD_ACCESS_KEY_ID", "no credentials to read OpenSearch with")
    reader = OpenSearchClient(
        settings.opensearch_endpoint, settings.region, settings.credentials, pool_size=settings.concurrency
    )
    notifier: Notifier = (
        DingTalkNotifier(settings.dingtalk_webhook, settings.dingtalk_secret)
        if settings.dingtalk_webhook
        else ConsoleNotifier()
    )
    return Services(reader=reader, store=open_store(settings), notifier=notifier)


def now_ms() -> int:
    return int(time.time() * 1000)


def tick(
    settings: Settings,
    *,
    dry_run: bool = False,
    services: Services | None = None,
    clock: Callable[[], int] | None = None,
    tick_id: str | None = None,
    read_budget_s: float | None = None,
) -> TickResult:
    """Run one tick and log its outcome; TickError carries a one-line, scrubbed cause."""
    remember_secrets(settings)
    services = services or build_services(settings)
    started = time.monotonic()
    try:
        result = run_tick(
            settings,
            reader=services.reader,
            store=services.store,
            notifier=services.notifier,
            now_ms=clock or now_ms,  # looked up per call: tests and the demo drive a virtual clock
            tick_id=tick_id or uuid.uuid4().hex,
            dry_run=dry_run,
            read_budget_s=read_budget_s,
        )
    except TickError as err:
        err.cause = scrub(err.cause)
        logs.event("tick_failed", logging.ERROR, cause=err.cause, ms=_ms_since(started))
        raise
    logs.event(
        "tick_done",
        targets=len(settings.targets),
        changes=len(result.changes),
        sent=len(result.sent),
        readFailures=len(result.read_failures),
        saved=result.saved,
        dryRun=dry_run,
        ms=_ms_since(started),
    )
    return result


def read_budget(context: Any) -> float | None:
    """Half of the function's timeout for reading, the rest for claims, delivery and the commit."""
    timeout = getattr(getattr(context, "function", None), "timeout", None)
    try:
        return max(5.0, float(timeout) * 0.5) if timeout else None
    except (TypeError, ValueError):
        return None


def read_failure_cause(result: TickResult) -> str | None:
    """A one-line cause when targets could not be read (not-found is an answer, not a failure)."""
    failed = {k: f for k, f in result.read_failures.items() if f.kind != FailureKind.NOT_FOUND}
    if not failed:
        return None
    key, first = next(iter(failed.items()))
    return scrub(f"{len(failed)} target(s) could not be read; {key}: {first.kind.value}: {first.message}")


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
