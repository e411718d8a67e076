"""One tick: load state, read every target, detect, claim, deliver, commit.

Delivery: every change has a deterministic id; a tick sends only the changes whose write-once
claim it created (``claims``); it marks them sent after the chat accepts the digest, or deletes its
claims when it does not; state is committed last, and a target whose change another tick is still
delivering keeps its old entry, so nothing is lost and nothing is sent twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from . import jsonsafe, logs
from .detect import Rules, detect
from .insight import in_quiet, zone
from .model import Change, ReadFailure, State
from .ports import Notifier, StateStore, StoreError, TaskReader
from .reading import observe
from .settings import Settings

if TYPE_CHECKING:
    from .delivery import Delivery, Round
    from .outbox import ChannelState

STATE_OBJECT = "state.json"


class TickError(Exception):
    """The tick could not read its state, deliver or save; ``result`` holds what it got to."""

    def __init__(self, cause: str, result: TickResult | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.result = result


@dataclass
class TickResult:
    changes: list[Change] = field(default_factory=list)
    sent: list[Change] = field(default_factory=list)  # delivered by this tick
    already_sent: list[Change] = field(default_factory=list)  # another tick delivered them
    in_flight: list[Change] = field(default_factory=list)  # another tick is delivering them
    read_failures: dict[str, ReadFailure] = field(default_factory=dict)
    saved: bool = False
    dry_run: bool = False
    deliveries: dict[str, Delivery] = field(default_factory=dict)  # per channel

    def record(self, done: Round) -> None:
        """What every channel did: a change counts as sent once any channel got it from this tick."""
        self.deliveries = done.deliveries
        # What waited in an outbox is part of this tick's answer too: it was (again) attempted now.
        known = {c.id for c in self.changes}
        for change in [*done.alerts, *(c for d in done.deliveries.values() for c in d.attempted)]:
            if change.id not in known:
                known.add(change.id)
                self.changes.append(change)

        def each(kind: str) -> list[Change]:
            seen: dict[str, Change] = {}
            for delivery in done.deliveries.values():
                seen.update((c.id, c) for c in getattr(delivery, kind))
            return list(seen.values())

        self.sent, self.already_sent, self.in_flight = each("sent"), each("elsewhere"), each("busy")

    def to_json(self) -> dict[str, Any]:
        sent = {c.id for c in self.sent}
        elsewhere = {c.id for c in self.already_sent}
        where: dict[str, dict[str, str]] = {}
        for name, delivery in self.deliveries.items():
            for kind in ("sent", "elsewhere", "busy", "pending", "held"):
                for change in getattr(delivery, kind):
                    where.setdefault(change.id, {})[name] = kind
        return {
            "dryRun": self.dry_run,
            "changes": [
                {
                    **c.to_json(),
                    "sent": c.id in sent,
                    "sentByAnotherTick": c.id in elsewhere,
                    "channels": where.get(c.id, {}),
                }
                for c in self.changes
            ],
            "sent": len(self.sent),
            "readFailures": {k: f"{v.kind.value}: {v.message}" for k, v in self.read_failures.items()},
            "saved": self.saved,
        }


def load_state(store: StateStore, *, copy_aside: bool = True) -> State | None:
    """The stored state; None when there is none yet or it is corrupt.

    A corrupt object is copied aside once (its name is its hash) unless ``copy_aside`` is False
    (dry runs and status reads write nothing); the next commit then replaces it.
    """
    state, corrupt = _read_state(store, copy_aside=copy_aside)
    return None if corrupt else state


def _read_state(store: StateStore, *, copy_aside: bool) -> tuple[State | None, bool]:
    """(state, corrupt); a corrupt object yields an empty state whose revision comes from its hash.

    Change ids include the revision they were computed against: starting over at revision 0 would
    give the new "now watching" changes the ids of the very first tick's, whose claims say "sent",
    and the fresh digest would never go out. Ticks that read the same corrupt bytes agree on it.
    """
    try:
        raw = store.get(STATE_OBJECT)
    except StoreError as err:
        raise TickError(f"cannot read state: {err}") from None
    if raw is None:
        return None, False
    try:
        return State.from_json(jsonsafe.loads(raw)), False
    except ValueError as err:
        digest = hashlib.sha256(raw).hexdigest()
        revision = int(digest[:12], 16) or 1
        fresh = State(revision=revision, epoch=revision)
        aside = f"corrupt/state-{digest[:16]}.json"
        if not copy_aside:
            logs.event("state_corrupt", logging.WARNING, problem=str(err)[:200])
            return fresh, True
        try:
            if store.put(aside, raw, create_only=True):
                logs.event("state_corrupt", logging.WARNING, problem=str(err)[:200], copiedTo=aside)
        except StoreError as put_err:
            raise TickError(f"state is corrupt and cannot be copied aside: {put_err}") from None
        return fresh, True


def merge(previous: State | None, computed: State, unsettled: set[str]) -> State:
    """The state to commit: a target with a change still being delivered elsewhere keeps its old entry."""
    if not unsettled:
        return computed
    old = previous.targets if previous else {}
    targets = dict(computed.targets)
    for key in unsettled:
        if key in old:
            targets[key] = old[key]
        else:
            targets.pop(key, None)
    if previous is not None and targets == previous.targets:
        return previous  # nothing of ours to record: no write (it could only replace a newer state)
    return replace(computed, targets=targets)


def run_tick(
    settings: Settings,
    *,
    reader: TaskReader,
    store: StateStore,
    notifiers: Mapping[str, Notifier],
    now_ms: Callable[[], int],
    tick_id: str,
    dry_run: bool = False,
    read_budget_s: float | None = None,
) -> TickResult:
    previous, _ = _read_state(store, copy_aside=not dry_run)
    deadline = time.monotonic() + read_budget_s if read_budget_s is not None else None
    found = None
    if any(t.is_wildcard for t in settings.targets):
        from .discovery import discover  # only wildcard targets need it: not on every cold start

        found = discover(settings, previous, reader, now_ms())
    targets = found.targets if found else settings.targets
    observations = observe(targets, previous, reader, settings.concurrency, deadline)
    rules = Rules(
        settings.progress_step,
        settings.stall_minutes,
        settings.error_ticks,
        settings.regression_pct,
        settings.lower_is_better,
        settings.remind_hours,
    )
    now = now_ms()
    changes, computed = detect(previous, observations, now, rules)
    if found:
        changes = [*found.changes, *changes]
        from .discovery import with_listings

        computed = with_listings(previous, computed, found.listings)
    result = TickResult(changes=changes, dry_run=dry_run)
    result.read_failures = {k: o.failure for k, o in observations.items() if o.failure is not None}
    if found:
        result.read_failures.update(found.failures)
    for key, failure in result.read_failures.items():
        logs.event("read_failed", logging.WARNING, target=key, kind=failure.kind.value, cause=failure.message)
    if dry_run:
        return result

    owed_before = previous.channels if previous else {}
    failed: list[Delivery] = []
    owed: dict[str, ChannelState] = {}
    if changes or any(channel.name in owed_before for channel in settings.channels):
        # Only a tick with something to send loads the delivery half (claims, outboxes, rendering,
        # the chat clients): an idle tick, the common one, stays light on a cold start.
        from .delivery import Outlet, deliver_all
        from .outbox import NOTHING_OWED

        outlets = [Outlet(channel, notifiers[channel.name], settings.timezone) for channel in settings.channels]
        done = deliver_all(
            outlets,
            changes,
            owed_before,
            settings.routes,
            store,
            error_ticks=settings.error_ticks,
            base_rev=previous.revision if previous else computed.revision,
            tick_id=tick_id,
            now_ms=now,
            concurrency=settings.concurrency,
            quiet=in_quiet(settings.quiet_hours, now, zone(settings.timezone)) if settings.quiet_hours else False,
        )
        result.record(done)
        owed = {k: v for k, v in done.owed.items() if v != NOTHING_OWED}
        failed = [d for d in done.deliveries.values() if d.failed]
    if owed != computed.channels:  # a channel no longer configured owes nothing any more
        computed = replace(computed, channels=owed)
    committed = merge(previous, computed, {c.target for c in result.in_flight})
    if previous is None or committed != previous:
        try:
            store.put(STATE_OBJECT, json.dumps(committed.to_json(), separators=(",", ":")).encode())
        except StoreError as err:
            raise TickError(f"cannot save state: {err}", result) from None
        result.saved = True
    if failed:
        where = "" if len(settings.channels) == 1 else f" to {', '.join(d.channel for d in failed)}"
        count = sum(len(d.pending) for d in failed)
        raise TickError(f"delivery failed{where}, {count} change(s) stay pending: {failed[0].cause}", result)
    return result
