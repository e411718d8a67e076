"""Write-once claim objects: the mechanism that lets concurrent ticks deliver each change once.

A tick sends only the changes whose claim object (``claims/<change id>``) it created with a
create-only write; it marks them sent after delivery, or deletes them when delivery fails. A claim
left "sending" past its expiry belonged to a tick that died: the next attempt's object
(``claims/<id>.1``, ``.2``, ...) takes it over.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Mapping

from . import jsonsafe, logs
from .model import Change
from .pool import parallel
from .ports import StateStore, StoreError

CLAIMS_DIR = "claims/"
CLAIM_TTL_MS = 10 * 60_000  # longer than a tick can run (the function's timeout): a live claim never expires
CLAIM_ATTEMPTS = 4  # takeovers of expired claims before a change is left for a later tick


class ClaimOutcome(enum.Enum):
    OURS = "ours"  # we created the claim: we send
    SENT = "sent"  # another tick delivered it
    BUSY = "busy"  # another tick is delivering it (or it could not be claimed now)


class Claims:
    """The claims one tick holds; ``names`` maps a change id to the claim object it created."""

    def __init__(self, store: StateStore, tick_id: str, now_ms: int) -> None:
        self._store = store
        self._tick_id = tick_id
        self._now = now_ms
        self.names: dict[str, str] = {}

    def _body(self, change: Change, status: str) -> bytes:
        return json.dumps(
            {
                "change": change.id,
                "target": change.target,
                "kind": change.kind.value,
                "status": status,
                "tick": self._tick_id,
                "at": self._now,
                "expires": self._now + CLAIM_TTL_MS,
            }
        ).encode()

    def claim(self, change: Change) -> ClaimOutcome:
        for attempt in range(CLAIM_ATTEMPTS):
            name = f"{CLAIMS_DIR}{change.id}" + (f".{attempt}" if attempt else "")
            created, raw = self._create_or_read(name, change)
            if created:
                return ClaimOutcome.OURS
            if raw is None:  # it vanished twice between our write and our read: someone is at work
                return ClaimOutcome.BUSY
            status, expires, tick = read_claim(raw)
            if status == "sent":
                return ClaimOutcome.SENT
            if status == "sending" and tick == self._tick_id:
                # Our own create-only PUT landed but its answer came too late; the retry found it.
                self.names[change.id] = name
                return ClaimOutcome.OURS
            if status == "sending" and self._now < expires <= self._now + 2 * CLAIM_TTL_MS:
                return ClaimOutcome.BUSY
            # Expired or unreadable: its owner is gone; the next attempt's object takes it over.
        return ClaimOutcome.BUSY

    def _create_or_read(self, name: str, change: Change) -> tuple[bool, bytes | None]:
        """(True, None) once we created ``name``; else (False, the existing claim's bytes or None).

        Tried twice: the owner may have released the claim between our write and our read.
        """
        raw = None
        for _ in range(2):
            if self._store.put(name, self._body(change, "sending"), create_only=True):
                self.names[change.id] = name
                return True, None
            raw = self._store.get(name)
            if raw is not None:
                break
        return False, raw

    def mark_sent(self, change: Change) -> None:
        self._store.put(self.names[change.id], self._body(change, "sent"))

    def release(self, changes: list[Change]) -> None:
        """Delete our claims of ``changes``; one that cannot be deleted expires on its own."""
        for change in changes:
            name = self.names.pop(change.id, None)
            if name is None:
                continue
            try:
                self._store.delete(name)
            except StoreError as err:
                logs.event("claim_not_released", logging.WARNING, change=change.id, cause=str(err))


def read_claim(raw: bytes | None) -> tuple[str, float, str]:
    """(status, expires, tick); a claim that is not our JSON or holds bad values is "unreadable".

    An unreadable claim, or one whose expiry lies further ahead than any live tick would set, is
    treated as expired: its owner cannot be alive, and its change must not be blocked for good.
    """
    try:
        data = jsonsafe.loads(raw or b"")
    except ValueError:
        return "unreadable", 0, ""
    if not isinstance(data, dict):
        return "unreadable", 0, ""
    status, expires, tick = data.get("status"), data.get("expires"), data.get("tick")
    tick = tick if isinstance(tick, str) else ""
    if status == "sent":  # delivered: whatever else it says, the change must not go out again
        return status, 0, tick
    if not isinstance(status, str) or isinstance(expires, bool) or not isinstance(expires, (int, float)):
        return "unreadable", 0, ""
    return status, float(expires), tick


def claim_all(claims: Claims, changes: list[Change], concurrency: int) -> Mapping[str, ClaimOutcome]:
    """Claim every change: targets in parallel, one target's changes in order.

    A target stops at its first change another tick holds: its later changes are left unclaimed
    (counted as busy), so two ticks never split one target's changes between their digests, and
    a stuck claim (a "status" whose release failed) is never overtaken by the target's next "new run".
    Raises StoreError after releasing whatever it claimed.
    """
    by_target: dict[str, list[Change]] = {}
    for change in changes:
        by_target.setdefault(change.target, []).append(change)

    def one(of_target: list[Change]) -> list[ClaimOutcome]:
        outcomes: list[ClaimOutcome] = []
        for change in of_target:
            held = bool(outcomes) and outcomes[-1] == ClaimOutcome.BUSY
            outcomes.append(ClaimOutcome.BUSY if held else claims.claim(change))
        return outcomes

    try:
        results = parallel(one, list(by_target.values()), concurrency)
    except StoreError:
        claims.release(changes)
        raise
    return {
        change.id: outcome
        for of_target, outcomes in zip(by_target.values(), results, strict=True)
        for change, outcome in zip(of_target, outcomes, strict=True)
    }
