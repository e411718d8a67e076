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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import jsonsafe, logs
from .claims import ClaimOutcome, Claims, claim_all
from .detect import Rules, detect
from .discovery import discover, with_listings
from .kinds import passes
from .model import Change, ReadFailure, State
from .ports import DeliveryError, Notifier, StateStore, StoreError, TaskReader
from .reading import observe
from .settings import Settings

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

    def to_json(self) -> dict[str, Any]:
        sent = {c.id for c in self.sent}
        elsewhere = {c.id for c in self.already_sent}
        return {
            "dryRun": self.dry_run,
            "changes": [
                {
                    "id": c.id,
                    "target": c.target,
                    "kind": c.kind.value,
                    "generation": c.generation,
                    "oldStatus": c.old_status,
                    "status": c.new_status,
                    "progress": c.progress,
                    "detail": c.detail,
                    "sent": c.id in sent,
                    "sentByAnotherTick": c.id in elsewhere,
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
    notifier: Notifier,
    now_ms: Callable[[], int],
    tick_id: str,
    dry_run: bool = False,
    read_budget_s: float | None = None,
) -> TickResult:
    previous, _ = _read_state(store, copy_aside=not dry_run)
    deadline = time.monotonic() + read_budget_s if read_budget_s is not None else None
    found = discover(settings, previous, reader, now_ms()) if any(t.is_wildcard for t in settings.targets) else None
    targets = found.targets if found else settings.targets
    observations = observe(targets, previous, reader, settings.concurrency, deadline)
    rules = Rules(settings.progress_step, settings.stall_minutes, settings.error_ticks)
    now = now_ms()
    changes, computed = detect(previous, observations, now, rules)
    if found:
        changes = [*found.changes, *changes]
        computed = with_listings(previous, computed, found.listings)
    result = TickResult(changes=changes, dry_run=dry_run)
    result.read_failures = {k: o.failure for k, o in observations.items() if o.failure is not None}
    if found:
        result.read_failures.update(found.failures)
    for key, failure in result.read_failures.items():
        logs.event("read_failed", logging.WARNING, target=key, kind=failure.kind.value, cause=failure.message)
    if dry_run:
        return result

    # A channel's kinds filter: what it does not take is recorded in the state but never sent.
    wanted = settings.channels[0].kinds if settings.channels else None
    changes = [c for c in changes if passes(wanted, c.kind, c.new_status)]
    claims = Claims(store, tick_id, now)
    try:
        outcome = claim_all(claims, changes, settings.concurrency)
    except StoreError as err:
        raise TickError(f"cannot claim changes: {err}") from None
    ours = [c for c in changes if outcome[c.id] == ClaimOutcome.OURS]
    result.already_sent = [c for c in changes if outcome[c.id] == ClaimOutcome.SENT]
    result.in_flight = [c for c in changes if outcome[c.id] == ClaimOutcome.BUSY]

    if ours:
        try:
            notifier.send(notifier.digest(ours))
        except DeliveryError as err:
            claims.release(ours)
            raise TickError(f"delivery failed, {len(ours)} change(s) stay pending: {err}", result) from None
        except Exception as err:  # a rendering or client bug: the claims go back, nothing is lost
            claims.release(ours)
            cause = f"{type(err).__name__} while rendering or sending"
            raise TickError(f"delivery failed, {len(ours)} change(s) stay pending: {cause}", result) from None
        result.sent = ours
        logs.event("delivered", changes=len(ours), ids=[c.id for c in ours])
        for change in ours:
            try:
                claims.mark_sent(change)
            except StoreError as err:  # the state commit below still records the delivery
                logs.event("claim_not_marked", logging.WARNING, change=change.id, cause=str(err))

    committed = merge(previous, computed, {c.target for c in result.in_flight})
    if previous is None or committed != previous:
        try:
            store.put(STATE_OBJECT, json.dumps(committed.to_json(), separators=(",", ":")).encode())
        except StoreError as err:
            raise TickError(f"cannot save state: {err}", result) from None
        result.saved = True
    return result
