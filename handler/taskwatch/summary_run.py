"""One summary per channel and hour: render it from the stored state, claim it, send it.

The claim is ``claims/<channel>/summary-<YYYYMMDDHH>`` (the event's hour in UTC), created with a
create-only write before sending: the run that creates it sends, deletes it when sending fails (so
a retry sends), and marks it "sent" after delivery. Two summary events of one hour, however close,
therefore send one message per channel; the hour is a timer event's ``triggerTime``, else now.
Reads: the state, once (no OpenSearch call); writes: the claims only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from . import logs
from .claims import CLAIM_ATTEMPTS, CLAIM_TTL_MS, CLAIMS_DIR, read_claim
from .digest import Message
from .pool import parallel
from .ports import DeliveryError, StoreError
from .redact import scrub
from .summary import render, routed, watched_keys

if TYPE_CHECKING:
    from .ports import Notifier, StateStore
    from .settings import Settings
    from .state import State
    from .wiring import Wiring

SENT, ELSEWHERE, DRY_RUN = "sent", "sentByAnotherTick", "dryRun"


def trigger_ms(trigger_time: str, now_ms: int) -> int:
    """A timer event's ``triggerTime`` (ISO 8601: 2026-12-03T01:00:00Z) in ms; the current time
    when it is missing or cannot be read (logged)."""
    raw = trigger_time.strip()
    try:
        when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        if 2000 <= when.year <= 2100:  # outside: a wrong clock or unit, not an hour to claim
            return int(when.timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        pass
    logs.event("bad_trigger_time", logging.WARNING, triggerTime=trigger_time[:64], using="the current time")
    return now_ms


def hour_of(ms: int) -> datetime:
    """The hour (UTC) an event belongs to: what makes two summary events the same."""
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).replace(minute=0, second=0)


@dataclass
class SummaryResult:
    hour: str  # the event's hour, UTC, ISO 8601
    targets: int  # every watched target (each channel shows the ones routed to it)
    dry_run: bool = False
    channels: dict[str, str] = field(default_factory=dict)  # sent, sentByAnotherTick, failed: <cause>, dryRun
    texts: dict[str, str] = field(default_factory=dict)  # a dry run's messages

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"hour": self.hour, "channels": dict(self.channels), "targets": self.targets}
        return {**body, "text": dict(self.texts)} if self.dry_run else body

    def failure(self) -> str | None:
        """A one-line cause when a channel did not get its summary."""
        failed = {name: out.removeprefix("failed: ") for name, out in self.channels.items() if out.startswith("failed")}
        if not failed:
            return None
        name, cause = next(iter(failed.items()))
        line = " ".join(f"summary not delivered to {len(failed)} channel(s); {name}: {cause}".split())
        return scrub(line)


def _claim(status: str, tick: str, now: int) -> bytes:
    return json.dumps({"status": status, "tick": tick, "at": now, "expires": now + CLAIM_TTL_MS}).encode()


def claim_hour(store: StateStore, base: str, tick: str, now: int) -> str | None:
    """The claim object this run created for the hour, or None when another run sent the summary or
    is sending it. An expired or unreadable claim (its run died) is taken over by the next object
    of the chain ``base``, ``base.1``, ... as change claims are."""
    body = _claim("sending", tick, now)
    for attempt in range(CLAIM_ATTEMPTS):
        name = base + (f".{attempt}" if attempt else "")
        if store.put(name, body, create_only=True):
            return name
        raw = store.get(name)
        if raw is None:  # released between our write and our read: its run failed to send
            return name if store.put(name, body, create_only=True) else None
        status, expires, owner = read_claim(raw)
        if status == "sent" or (status == "sending" and owner != tick and now < expires <= now + 2 * CLAIM_TTL_MS):
            return None
        if status == "sending" and owner == tick:  # our own write, answered too late
            return name
    return None


def deliver(
    name: str, notifier: Notifier, compose: Callable[[], Message], store: StateStore, hour: datetime, now: int
) -> str:
    """Claim the channel's summary of the hour, compose it, send it, mark it sent; the claim is
    released when that fails. Composed once claimed: an event that finds it sent renders nothing."""
    tick = uuid.uuid4().hex
    try:
        held = claim_hour(store, f"{CLAIMS_DIR}{name}/summary-{hour:%Y%m%d%H}", tick, now)
    except StoreError as err:
        return f"failed: cannot claim the summary: {err}"
    if held is None:
        return ELSEWHERE
    try:
        # A deterministic id: DingTalk and webhook receivers drop a second message with the same one.
        message = compose()
        notifier.send(message, hashlib.sha256(f"summary\n{name}\n{hour:%Y%m%d%H}".encode()).hexdigest()[:32])
    except Exception as err:  # a rendering or client bug too: this channel fails, the others go on
        cause = (
            scrub(str(err)) if isinstance(err, DeliveryError) else f"{type(err).__name__} while rendering or sending"
        )
        try:
            store.delete(held)  # so that a retry of the event sends
        except StoreError as release:  # it expires instead
            logs.event("claim_not_released", logging.WARNING, channel=name, cause=str(release))
        return f"failed: {cause}"
    try:
        store.put(held, _claim("sent", tick, now))
    except StoreError as err:  # delivered all the same; the claim expires after CLAIM_TTL_MS
        logs.event("claim_not_marked", logging.WARNING, channel=name, cause=str(err))
    return SENT


def summarize(
    settings: Settings,
    state: State | None,
    notifiers: Mapping[str, Notifier],
    store: StateStore,
    *,
    now: int,
    event_ms: int,
    dry_run: bool = False,
) -> SummaryResult:
    """Every channel's summary of the state: rendered, then (unless a dry run) delivered, in parallel."""
    keys = watched_keys(settings.targets, state)
    entries = state.targets if state else {}
    hour = hour_of(event_ms)
    result = SummaryResult(f"{hour:%Y-%m-%dT%H:00:00Z}", len(keys), dry_run)
    names = [channel.name for channel in settings.channels]
    shown = routed(keys, settings.routes, names)

    def one(name: str) -> tuple[str, str]:
        def compose() -> Message:
            title, blocks = render(shown[name], entries, now, settings.timezone)
            return notifiers[name].compose(title, blocks, settings.timezone)

        if not dry_run:
            return deliver(name, notifiers[name], compose, store, hour, now), ""
        try:
            return DRY_RUN, compose().text
        except Exception as err:  # a rendering bug fails this channel only
            return f"failed: {type(err).__name__} while rendering", ""

    for name, (outcome, text) in zip(names, parallel(one, names, 8), strict=True):
        result.channels[name] = outcome
        if dry_run:
            result.texts[name] = text
    return result


def run(settings: Settings, *, wiring: Wiring, trigger_time: str | None = None, dry_run: bool = False) -> SummaryResult:
    """The summary now, for the hour of ``trigger_time`` (a timer event's) or of the current time.

    Raises TickError when the state cannot be read, StoreError when no store can be opened.
    """
    from .tick import load_state
    from .wiring import build_notifiers, build_store, remember_secrets

    remember_secrets(settings)
    started = time.monotonic()
    store = build_store(settings, wiring)
    now = wiring.clock()
    state = load_state(store, copy_aside=False)  # the one read; a summary writes only its claims
    event_ms = now if trigger_time is None else trigger_ms(trigger_time, now)
    notifiers = build_notifiers(settings, wiring)
    result = summarize(settings, state, notifiers, store, now=now, event_ms=event_ms, dry_run=dry_run)
    ms = int((time.monotonic() - started) * 1000)
    logs.event(
        "summary_done", hour=result.hour, targets=result.targets, channels=result.channels, dryRun=dry_run, ms=ms
    )
    return result
