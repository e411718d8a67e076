"""Claim objects against a store that behaves like OSS: late answers, unreadable and bogus claims."""

from __future__ import annotations

import json

import pytest

from taskwatch.claims import CLAIM_TTL_MS, ClaimOutcome, Claims, claim_all
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


# --- batches: every "now watching" change of one revision in one claim object ---------------------


def watching(n: int, base_rev: int = 0) -> Change:
    return Change(f"app/fn/inst{n}@latest", ChangeKind.WATCHING, base_rev, "7:running")


def test_a_batch_is_one_object_and_one_mark() -> None:
    store = Store()
    batch = [watching(n) for n in range(500)]
    claims = Claims(store, "tick-a", NOW)
    outcome = claim_all(claims, batch, concurrency=8)
    assert set(outcome.values()) == {ClaimOutcome.OURS} and list(store.objects) == ["claims/watching-0.0"]
    for change in batch:
        claims.mark_sent(change)
    link = json.loads(store.objects["claims/watching-0.0"])
    assert link["status"] == "sent" and sorted(link["changes"]) == sorted(c.id for c in batch)


def test_a_second_tick_finds_the_batch_held_then_sent_and_claims_only_the_rest() -> None:
    store = Store()
    first = Claims(store, "tick-a", NOW)
    claim_all(first, [watching(1), watching(2)], concurrency=2)

    later = [watching(1), watching(2), watching(3)]
    busy = claim_all(Claims(store, "tick-b", NOW + 1000), later, concurrency=2)
    assert [busy[c.id] for c in later] == [ClaimOutcome.BUSY, ClaimOutcome.BUSY, ClaimOutcome.OURS]
    assert json.loads(store.objects["claims/watching-0.1"])["changes"] == [later[2].id]

    first.mark_sent(watching(1))
    again = claim_all(Claims(store, "tick-c", NOW + 2000), later, concurrency=2)
    assert [again[c.id] for c in later] == [ClaimOutcome.SENT, ClaimOutcome.SENT, ClaimOutcome.BUSY]


def test_a_released_or_expired_link_holds_nothing() -> None:
    store = Store()
    failed = Claims(store, "tick-a", NOW)
    claim_all(failed, [watching(1)], concurrency=1)
    failed.release([watching(1)])
    assert json.loads(store.objects["claims/watching-0.0"])["status"] == "released"
    retried = claim_all(Claims(store, "tick-b", NOW), [watching(1)], concurrency=1)
    assert retried[watching(1).id] == ClaimOutcome.OURS and "claims/watching-0.1" in store.objects

    dead = Claims(store, "tick-dead", NOW)  # a tick that died holding its link
    claim_all(dead, [watching(2, base_rev=5)], concurrency=1)
    later = NOW + CLAIM_TTL_MS + 1
    assert claim_all(Claims(store, "tick-c", later), [watching(2, 5)], 1)[watching(2, 5).id] == ClaimOutcome.OURS
    assert "claims/watching-5.1" in store.objects


def test_a_batch_link_that_landed_but_answered_late_is_ours() -> None:
    store = Store(late_puts=1)
    claims = Claims(store, "tick-a", NOW)
    assert claim_all(claims, [watching(1), watching(2)], 1)[watching(2).id] == ClaimOutcome.OURS
    claims.mark_sent(watching(2))
    assert json.loads(store.objects["claims/watching-0.0"])["status"] == "sent"


def test_a_target_whose_earlier_change_is_held_keeps_its_watching_out_of_the_batch() -> None:
    store = Store()
    recovered = Change("app/fn/inst1@latest", ChangeKind.RECOVERED, 0, "7")
    held = Claims(store, "tick-a", NOW)
    assert held.claim(recovered) == ClaimOutcome.OURS
    outcome = claim_all(Claims(store, "tick-b", NOW), [recovered, watching(1), watching(2)], 2)
    assert outcome[watching(1).id] == ClaimOutcome.BUSY and outcome[watching(2).id] == ClaimOutcome.OURS
