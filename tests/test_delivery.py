"""Delivery to several channels through run_tick: routing, per-channel claims, outboxes, alerts.

In-memory parts (a stub reader, a memory store, recording notifiers); each platform's own request
contract is pinned in tests/notifiers, and the emulator stories in tests/e2e.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import pytest
from helpers.fakes import MemoryStore

from taskwatch.delivery import destinations, digest_key
from taskwatch.digest import DigestStyle, Message, render, with_mentions
from taskwatch.kinds import ChangeKind
from taskwatch.model import Change, Task
from taskwatch.outbox import MAX_PENDING, ChannelState, change_from_json, change_to_json, enqueue
from taskwatch.ports import DeliveryError
from taskwatch.setting_values import Channel, Route, Target, parse_target
from taskwatch.settings import Settings, load_settings
from taskwatch.tick import TickError, run_tick

STYLE = DigestStyle(measure=lambda m: len(m.text.encode()), mentions=())


@dataclass
class Recorder:
    """A notifier that records what it was asked to send, and fails while ``failing`` says so."""

    failing: DeliveryError | None = None
    sent: list[tuple[Message, str | None]] = field(default_factory=list)
    attempts: int = 0
    zones: list[str] = field(default_factory=list)

    def digest(self, changes: list[Change], mentions: tuple[str, ...] = (), zone: str = "UTC") -> Message:
        self.zones.append(zone)
        return render(changes, with_mentions(STYLE, mentions))

    def send(self, message: Message, key: str | None = None) -> None:
        self.attempts += 1
        if self.failing is not None:
            raise self.failing
        self.sent.append((message, key))

    def kinds(self) -> list[list[str]]:
        return [[c.kind.value for c in m.changes] for m, _ in self.sent]


class Reader:
    """Every target's run as ``runs`` says (default: running at 10%)."""

    def __init__(self) -> None:
        self.runs: dict[str, Task] = {}

    def get_task(self, target: Target, generation: str) -> Task:
        return self.runs.get(target.key, Task(generation, "running", 10))

    def list_tasks(self, target: Target, page_number: int = 1, page_size: int = 20) -> list[Task]:
        return [self.runs.get(target.key, Task("7", "running", 10))]

    def list_instances(self, app_group: str, function: str, page_number: int, page_size: int) -> object:
        raise AssertionError("no wildcard here")


TEAM_A = "a/fn/one@latest"
TEAM_B = "b/fn/two@latest"


def settings(channels: tuple[str, ...] = ("chat1", "chat2"), routes: tuple[Route, ...] = ()) -> Settings:
    base = load_settings(
        {"TASKWATCH_TARGETS": f"{TEAM_A} {TEAM_B}", "TASKWATCH_REGION": "cn-hangzhou"}, require_credentials=False
    )
    return replace(
        base,
        channels=tuple(Channel(name, "console", None) for name in channels),
        routes=routes,
        error_ticks=2,
    )


class World:
    def __init__(self, s: Settings) -> None:
        self.settings = s
        self.store = MemoryStore()
        self.reader = Reader()
        self.notifiers = {c.name: Recorder() for c in s.channels}
        self.now = 1_800_000_000_000
        self.ticks = 0

    def tick(self) -> list[str]:
        self.ticks += 1
        self.now += 300_000
        result = run_tick(
            self.settings,
            reader=self.reader,
            store=self.store,
            notifiers=self.notifiers,
            now_ms=lambda: self.now,
            tick_id=f"t{self.ticks}",
        )
        return [c.kind.value for c in result.changes]

    def failing_tick(self) -> str:
        with pytest.raises(TickError) as failure:
            self.tick()
        return failure.value.cause

    def state(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.store.objects["state.json"])
        return loaded

    def finish(self, key: str, status: str = "failed") -> None:
        self.reader.runs[key] = Task("7", status, 100 if status == "success" else 40, 1, 2)


def test_each_channel_gets_its_own_digest_and_its_own_claims() -> None:
    world = World(settings())
    world.tick()
    for name, notifier in world.notifiers.items():
        assert notifier.kinds() == [["watching", "watching"]], name
        message, key = notifier.sent[0]
        assert key == digest_key(name, list(message.changes))
    claims = sorted(k for k in world.store.objects if k.startswith("claims/"))
    assert claims == ["claims/chat1/watching-0.0", "claims/chat2/watching-0.0"]  # one batch per channel
    assert all(json.loads(world.store.objects[k])["status"] == "sent" for k in claims)
    assert world.tick() == [] and all(len(n.sent) == 1 for n in world.notifiers.values())


def test_a_failing_channel_keeps_its_changes_and_blocks_neither_the_other_nor_the_commit() -> None:
    world = World(settings())
    world.tick()
    world.notifiers["chat2"].failing = DeliveryError("HTTP 502", retryable=True)
    world.finish(TEAM_A)

    cause = world.failing_tick()

    assert "chat2" in cause and "1 change(s) stay pending" in cause and "HTTP 502" in cause
    assert world.notifiers["chat1"].kinds()[-1] == ["status"]
    state = world.state()
    assert state["targets"][TEAM_A]["status"] == "failed"  # type: ignore[index]
    pending = state["channels"]["chat2"]["pending"]  # type: ignore[index]
    assert [c["kind"] for c in pending] == ["status"] and "chat1" not in state["channels"]  # type: ignore[operator]

    world.notifiers["chat2"].failing = None
    world.finish(TEAM_B, "success")
    world.tick()
    assert world.notifiers["chat2"].kinds()[-1] == ["status", "status"]  # oldest first, then the new one
    assert [m.changes[0].target for m, _ in world.notifiers["chat2"].sent[-1:]] == [TEAM_A]
    assert world.notifiers["chat1"].kinds()[-1] == ["status"]  # chat1 got TEAM_A once, TEAM_B now
    assert "channels" not in world.state()
    assert world.tick() == []


def test_a_channel_failing_error_ticks_in_a_row_is_told_to_the_others_once_then_ok() -> None:
    world = World(settings())
    world.tick()
    world.notifiers["chat2"].failing = DeliveryError("DingTalk errcode 310000: keyword", retryable=False)
    world.finish(TEAM_A)
    world.failing_tick()
    assert world.notifiers["chat1"].kinds()[-1] == ["status"]  # one failure: nothing told yet
    world.failing_tick()
    told = world.notifiers["chat1"].sent[-1][0]
    assert [c.kind for c in told.changes] == [ChangeKind.CHANNEL_FAILING]
    assert "chat2" in told.text and "310000" in told.text
    world.failing_tick()
    assert world.notifiers["chat1"].kinds()[-1] == ["channel_failing"]  # not told again

    world.notifiers["chat2"].failing = None
    world.tick()
    assert world.notifiers["chat1"].kinds()[-1] == ["channel_ok"]
    assert [[k for k in kinds if k != "channel_failing"] for kinds in world.notifiers["chat2"].kinds()[-1:]] == [
        ["status"]
    ]
    assert "channel_failing" not in world.notifiers["chat2"].kinds()[-1]  # never told about itself


def test_routing_by_watch_with_kinds_filters_and_owners_mentioned_only_on_urgent_changes() -> None:
    routes = (
        Route((parse_target("a/fn/*", "test"),), ("chat1",), ("13800000001",), None),
        Route((parse_target(TEAM_B, "test"),), ("chat2",), ("13800000002",), ("status:failed",)),
    )
    world = World(settings(routes=routes))
    world.tick()
    assert world.notifiers["chat1"].kinds() == [["watching"]]  # a/fn/one only
    assert world.notifiers["chat2"].kinds() == []  # only failures of b reach chat2
    world.finish(TEAM_A)
    world.finish(TEAM_B)
    world.tick()
    chat1, chat2 = world.notifiers["chat1"].sent[-1][0], world.notifiers["chat2"].sent[-1][0]
    assert [c.target for c in chat1.changes] == [TEAM_A] and chat1.at_mobiles == ("13800000001",)
    assert [c.target for c in chat2.changes] == [TEAM_B] and chat2.at_mobiles == ("13800000002",)


def test_destinations_take_every_matching_watch_and_the_channels_own_kinds() -> None:
    channels = (Channel("x", "console", None, ("status:failed",)), Channel("y", "console", None))
    routes = (
        Route((parse_target("a/*", "test"),), ("x",), ("m1",)),
        Route((parse_target("a/fn/one", "test"),), None, ("m2",)),
    )
    failed = Change(TEAM_A, ChangeKind.STATUS, 1, "7:failed", Task("7", "failed", 40), "running")
    moved = Change(TEAM_A, ChangeKind.PROGRESS, 1, "50", Task("7", "running", 50))
    assert destinations(failed, routes, channels) == {"x": ("m1", "m2"), "y": ("m2",)}
    assert destinations(moved, routes, channels) == {"y": ()}
    unrouted = Change("z/fn/q@latest", ChangeKind.PROGRESS, 1, "50", Task("7", "running", 50))
    assert set(destinations(unrouted, routes, channels)) == {"y"}  # no watch covers it: every channel


def test_a_rate_limited_channel_is_not_retried_in_the_tick() -> None:
    world = World(settings(channels=("chat1",)))
    world.notifiers["chat1"].failing = DeliveryError("rate limit", retryable=True, rate_limited=True)
    assert "rate limit" in world.failing_tick()
    assert world.notifiers["chat1"].attempts == 1
    held = [json.loads(v)["status"] for k, v in world.store.objects.items() if k.startswith("claims/")]
    assert held == ["released"]


def test_the_outbox_keeps_at_most_500_and_counts_the_dropped() -> None:
    changes = [Change(f"a/fn/i{n}@latest", ChangeKind.PROGRESS, 1, str(n), Task("1", "running", 5)) for n in range(600)]
    state = enqueue(enqueue(ChannelState(), changes[:300]), changes[200:])  # 100 already waiting
    assert len(state.pending) == MAX_PENDING and state.dropped == 100
    assert state.pending[0].target == "a/fn/i100@latest" and state.pending[-1].target == "a/fn/i599@latest"


def test_a_pending_change_comes_back_with_the_same_id() -> None:
    original = Change(
        TEAM_A,
        ChangeKind.STATUS,
        9,
        "7:failed",
        Task("7", "failed", 40.5, 1, 2, "run", (("recall", "0.9"),), ("OOM",)),
        "running",
        "detail",
    )
    again = change_from_json(json.loads(json.dumps(change_to_json(original))))
    assert again == original and again.id == original.id


@pytest.mark.parametrize(
    "bad",
    [
        {"pending": "x"},
        {"pending": [{"kind": "nope", "target": "t", "discriminator": "d"}]},
        {"pending": [{"kind": "status", "target": "t"}]},
        {"pending": [{"kind": "status", "target": "t", "discriminator": "d", "task": {"progress": 1e400}}]},
        {"failures": -1},
        {"pending": [{}] * 501},
    ],
)
def test_a_bad_outbox_is_a_corrupt_state(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ChannelState.from_json(bad)


def test_quiet_hours_hold_what_is_not_urgent_and_release_it_in_one_digest_after() -> None:
    world = World(replace(settings(channels=("chat1",)), quiet_hours="07:00-09:00", stall_minutes=0))
    assert world.now == 1_800_000_000_000  # 2027-01-15 08:00 UTC: ticks at 08:05, 08:10 are inside the window
    world.tick()
    assert world.notifiers["chat1"].sent == []  # "now watching" waits too
    assert [c["kind"] for c in world.state()["channels"]["chat1"]["pending"]] == ["watching", "watching"]  # type: ignore[index]
    world.finish(TEAM_A)  # a failure is urgent: it goes out at once, alone
    world.tick()
    assert world.notifiers["chat1"].kinds() == [["status"]]
    world.now += 60 * 60_000  # past 09:00
    world.tick()
    assert world.notifiers["chat1"].kinds()[-1] == ["watching", "watching"]  # released once, together
    assert world.tick() == [] and len(world.notifiers["chat1"].sent) == 2


def test_each_digest_is_rendered_in_the_configured_zone() -> None:
    world = World(replace(settings(channels=("chat1",)), timezone="Asia/Shanghai"))
    world.tick()
    assert world.notifiers["chat1"].zones == ["Asia/Shanghai"]
