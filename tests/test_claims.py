"""Claim objects against a store that behaves like OSS: late answers, unreadable and bogus claims."""

from __future__ import annotations

import json

import pytest

from taskwatch.claims import CLAIM_TTL_MS, ClaimOutcome, Claims
from taskwatch.model import Change, ChangeKind

NOW = 1_800_000_000_000
CHANGE = Change("app/fn/inst@latest", ChangeKind.WATCHING, 0, "7:running")


class Store:
    """Create-only writes like OSS; ``late_puts`` makes a create-only PUT land and then report 409,
    the way an SDK retry after a lost answer does."""

    def __init__(self, late_puts: int = 0) -> None:
        self.objects: dict[str, bytes] = {}
        self.late_puts = late_puts

    def get(self, name: str) -> bytes | None:
        return self.objects.get(name)

    def put(self, name: str, data: bytes, *, create_only: bool = False) -> bool:
        if create_only and name in self.objects:
            return False
        self.objects[name] = data
        if create_only and self.late_puts:
            self.late_puts -= 1
            return False  # our write landed; the retry was told the object exists
        return True

    def delete(self, name: str) -> None:
        self.objects.pop(name, None)


def test_a_claim_that_landed_but_answered_late_is_ours() -> None:
    store = Store(late_puts=1)
    claims = Claims(store, "tick-a", NOW)
    assert claims.claim(CHANGE) == ClaimOutcome.OURS
    claims.mark_sent(CHANGE)
    assert json.loads(store.objects[f"claims/{CHANGE.id}"])["status"] == "sent"


def test_another_ticks_live_claim_is_busy_and_a_sent_one_is_sent() -> None:
    store = Store()
    assert Claims(store, "tick-a", NOW).claim(CHANGE) == ClaimOutcome.OURS
    assert Claims(store, "tick-b", NOW + 1000).claim(CHANGE) == ClaimOutcome.BUSY
    other = Claims(store, "tick-c", NOW)
    store.objects[f"claims/{CHANGE.id}"] = json.dumps({"status": "sent", "expires": "whatever"}).encode()
    assert other.claim(CHANGE) == ClaimOutcome.SENT


@pytest.mark.parametrize(
    "raw",
    [
        b'{"status":"sending","expires":1e999}',
        b'{"status":"sending","expires":NaN}',
        b'{"status":"sending","expires":Infinity,"tick":"tick-z"}',
        b'{"status":"sending","expires":' + b"9" * 500 + b"}",
        b'{"status":"sending","expires":' + str(NOW + 3 * CLAIM_TTL_MS).encode() + b"}",
        b'{"status":"sending","expires":true}',
        b'{"status":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'["sending"]',
        b"\x00\xff",
    ],
)
def test_an_unreadable_or_bogus_claim_is_taken_over(raw: bytes) -> None:
    store = Store()
    store.objects[f"claims/{CHANGE.id}"] = raw
    claims = Claims(store, "tick-a", NOW)
    assert claims.claim(CHANGE) == ClaimOutcome.OURS
    assert claims.names[CHANGE.id] == f"claims/{CHANGE.id}.1"
