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
from .model import Change, ChangeKind
from .pool import parallel
from .ports import StateStore, StoreError

CLAIMS_DIR = "claims/"
CLAIM_TTL_MS = 10 * 60_000  # longer than a tick can run (the function's timeout): a live claim never expires
CLAIM_ATTEMPTS = 4  # takeovers of expired claims before a change is left for a later tick
MAX_LINKS = 1_000  # links of one chain walked at most: each failed delivery of a batch adds one


class ClaimOutcome(enum.Enum):
    OURS = "ours"  # we created the claim: we send
    SENT = "sent"  # another tick delivered it
    BUSY = "busy"  # another tick is delivering it (or it could not be claimed now)


class Claims:
    """The claims one tick holds; ``names`` maps a change id to the claim object it created."""

    def __init__(self, store: StateStore, tick_id: str, now_ms: int, *, prefix: str = CLAIMS_DIR) -> None:
        self._store = store
        self._prefix = prefix  # a channel's own folder: claims are per change and channel
        self._tick_id = tick_id
        self._now = now_ms
        self.names: dict[str, str] = {}
        self._links: dict[str, list[str]] = {}  # link objects we created -> the change ids they hold
        self._marked: set[str] = set()
        self._released: set[str] = set()

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
            name = f"{self._prefix}{change.id}" + (f".{attempt}" if attempt else "")
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

    def claim_batch(self, group: str, changes: list[Change]) -> dict[str, ClaimOutcome]:
        """Claim ``changes`` with one object: the first free link of the chain ``<group>.0``, ``.1``, ...

        Every tick that computes one of these changes walks the same chain (the group is a function
        of the change), so a link another tick holds or delivered is seen, and only the changes no
        link holds go into ours. A released, expired or unreadable link holds nothing.
        """
        outcome: dict[str, ClaimOutcome] = {}
        free = list(changes)
        for index in range(MAX_LINKS):
            name = f"{self._prefix}{group}.{index}"
            if not free:
                break
            body = self._link_body(free, "sending")
            if self._store.put(name, body, create_only=True):
                self._link(name, free, outcome)
                break
            raw = self._store.get(name)
            if raw is None:  # released by deletion between our write and our read: try it again
                if self._store.put(name, body, create_only=True):
                    self._link(name, free, outcome)
                    break
                raw = self._store.get(name)
            status, expires, tick = read_claim(raw)
            held = link_ids(raw)
            if status == "sending" and tick == self._tick_id:  # our own PUT, answered late
                self._link(name, [c for c in free if c.id in held], outcome)
            elif status == "sent" or (status == "sending" and self._now < expires <= self._now + 2 * CLAIM_TTL_MS):
                busy = ClaimOutcome.SENT if status == "sent" else ClaimOutcome.BUSY
                outcome.update((c.id, busy) for c in free if c.id in held)
            free = [c for c in free if c.id not in outcome]
        outcome.update((c.id, ClaimOutcome.BUSY) for c in free if c.id not in outcome)
        return outcome

    def _link(self, name: str, changes: list[Change], outcome: dict[str, ClaimOutcome]) -> None:
        self._links[name] = [c.id for c in changes]
        for change in changes:
            self.names[change.id] = name
            outcome[change.id] = ClaimOutcome.OURS

    def _link_body(self, changes: list[Change], status: str) -> bytes:
        return json.dumps(
            {
                "status": status,
                "tick": self._tick_id,
                "at": self._now,
                "expires": self._now + CLAIM_TTL_MS,
                "changes": [c.id for c in changes],
            },
            separators=(",", ":"),
        ).encode()

    def mark_sent(self, change: Change) -> None:
        name = self.names[change.id]
        if name not in self._links:
            self._store.put(name, self._body(change, "sent"))
        elif name not in self._marked:  # a link: one write for all its changes
            self._marked.add(name)
            self._store.put(name, self._link_text(name, "sent"))

    def _link_text(self, name: str, status: str) -> bytes:
        ids = self._links[name] if status == "sent" else []
        return json.dumps({"status": status, "tick": self._tick_id, "at": self._now, "changes": ids}).encode()

    def release(self, changes: list[Change]) -> None:
        """Give up our claims of ``changes``: a change's own claim is deleted; a link is marked
        released instead, so the chain after it stays reachable. One that cannot be written expires."""
        for change in changes:
            name = self.names.pop(change.id, None)
            if name is None or name in self._released:
                continue
            try:
                if name in self._links:
                    self._released.add(name)
                    self._store.put(name, self._link_text(name, "released"))
                else:
                    self._store.delete(name)
            except StoreError as err:
                logs.event("claim_not_released", logging.WARNING, change=change.id, cause=str(err))


def link_ids(raw: bytes | None) -> set[str]:
    """The change ids a link object holds (none if it cannot be read)."""
    try:
        data = jsonsafe.loads(raw or b"")
    except ValueError:
        return set()
    ids = data.get("changes") if isinstance(data, dict) else None
    return {i for i in ids if isinstance(i, str)} if isinstance(ids, list) else set()


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


def batch_group(change: Change) -> str | None:
    """The chain a change is claimed in with others, or None for a claim of its own.

    "Now watching" changes of one stored revision share one: the first tick of 5,000 targets then
    writes one claim (and one "sent" mark), not 10,000 objects. It depends on the change alone, so
    every tick that computes the change, or retries it from an outbox, looks in the same chain.
    """
    return f"watching-{change.base_rev}" if change.kind == ChangeKind.WATCHING else None


def claim_all(claims: Claims, changes: list[Change], concurrency: int) -> Mapping[str, ClaimOutcome]:
    """Claim every change: targets in parallel, one target's changes in order, then the batches.

    A target stops at its first change another tick holds: its later changes are left unclaimed
    (counted as busy), so two ticks never split one target's changes between their digests, and
    a stuck claim (a "status" whose release failed) is never overtaken by the target's next "new run".
    A batched change ("now watching") is always its target's last, so it is claimed after the others.
    Raises StoreError after releasing whatever it claimed.
    """
    by_target: dict[str, list[Change]] = {}
    for change in changes:
        by_target.setdefault(change.target, []).append(change)

    def one(of_target: list[Change]) -> list[ClaimOutcome]:
        outcomes: list[ClaimOutcome] = []
        for change in of_target:
            held = bool(outcomes) and outcomes[-1] == ClaimOutcome.BUSY
            if batch_group(change) is not None and not held:
                outcomes.append(ClaimOutcome.OURS)  # for now: claimed with its batch below
                continue
            outcomes.append(ClaimOutcome.BUSY if held else claims.claim(change))
        return outcomes

    try:
        results = parallel(one, list(by_target.values()), concurrency)
        outcome = {
            change.id: result
            for of_target, outcomes in zip(by_target.values(), results, strict=True)
            for change, result in zip(of_target, outcomes, strict=True)
        }
        batches: dict[str, list[Change]] = {}
        for change in changes:
            group = batch_group(change)
            if group is not None and outcome[change.id] == ClaimOutcome.OURS:
                batches.setdefault(group, []).append(change)
        for group, batch in batches.items():
            outcome.update(claims.claim_batch(group, batch))
    except StoreError:
        claims.release(changes)
        raise
    return outcome
