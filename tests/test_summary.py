"""The summary: its content (zone, ETA, the last 24 h, failed first, routing), fitting it within each
platform's limits at 1,000 targets, and one message per channel and hour (claims), all without I/O
beyond an in-memory store."""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest
from helpers.fakes import MemoryStore

from taskwatch import notifiers, summary_run
from taskwatch.digest import Message
from taskwatch.notifiers import console, dingtalk, feishu, lark, slack, webhook, wecom
from taskwatch.ports import DEFAULT_TIMEOUTS, DeliveryError
from taskwatch.setting_values import Channel, Route, Target
from taskwatch.settings import Settings, load_settings
from taskwatch.state import FinishedRun, Listing, State, TargetState
from taskwatch.summary import render, routed, watched_keys
from taskwatch.summary_run import claim_hour, hour_of, summarize, trigger_ms

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
NOW = int(datetime(2026, 12, 3, 1, 0, tzinfo=timezone.utc).timestamp() * 1000)  # 09:00 in Shanghai
MORE = re.compile(r"… \+(\d+) more \(see GET /status")


def running(progress: float = 50, history: tuple[tuple[int, float], ...] = (), **kw: Any) -> TargetState:
    return TargetState(
        generation="9", status="running", progress=progress, start_time=NOW - HOUR_MS, history=history, **kw
    )


def settings(*targets: str, channels: tuple[str, ...] = ("console",), **kw: Any) -> Settings:
    env = {"TASKWATCH_TARGETS": ", ".join(targets), "TASKWATCH_STATE": "file:///unused"}
    base = load_settings(env, require_credentials=False, need_region=False)
    chans = tuple(Channel(name, "console", console.Options()) for name in channels)
    return replace(base, channels=chans, **kw)


# --- content ------------------------------------------------------------------------------------


def test_times_are_in_the_zone_with_the_eta_and_the_trend() -> None:
    history = ((NOW - 40 * MINUTE_MS, 10.0), (NOW - 20 * MINUTE_MS, 30.0), (NOW, 50.0))  # 1 % a minute
    entries = {"a/f/i@latest": running(50, history)}
    title, blocks = render(["a/f/i@latest"], entries, NOW, "Asia/Shanghai")
    assert title == "taskwatch summary: 1 target, 1 running, 0 failed"
    assert blocks[0].startswith("as of 2026-12-03 09:00 (+08:00)\n")
    assert blocks[1] == "- 🏃 **a/f/i@latest** running · █████░░░░░ 50% ▂▃▅ · ~50m left, ≈ 09:50"
    _, utc = render(["a/f/i@latest"], entries, NOW, "UTC")
    assert utc[0].startswith("as of 2026-12-03 01:00 UTC\n") and utc[1].endswith("≈ 01:50")
    # Without two samples that differ there is no ETA: how long it has run instead.
    _, flat = render(["a/f/i@latest"], {"a/f/i@latest": running(50)}, NOW, "UTC")
    assert flat[1] == "- 🏃 **a/f/i@latest** running · █████░░░░░ 50% · running for 1h 00m"


def test_the_last_24_hours_count_the_runs_started_succeeded_and_failed() -> None:
    a = TargetState(
        generation="3",
        status="running",
        progress=10,
        start_time=NOW - HOUR_MS,
        runs=(
            FinishedRun("1", "success", NOW - 30 * HOUR_MS, NOW - 29 * HOUR_MS),  # a day and more ago
            FinishedRun("2", "failed", NOW - 5 * HOUR_MS, NOW - 4 * HOUR_MS),
        ),
    )
    # Started 25 h ago, ended 23 h ago: it succeeded within the day, it did not start within it.
    b = TargetState(
        generation="7",
        status="success",
        progress=100,
        start_time=NOW - 25 * HOUR_MS,
        end_time=NOW - 23 * HOUR_MS,
        runs=(FinishedRun("7", "success", NOW - 25 * HOUR_MS, NOW - 23 * HOUR_MS),),
    )
    _, blocks = render(["x/f/b@latest", "x/f/a@latest"], {"x/f/a@latest": a, "x/f/b@latest": b}, NOW, "Asia/Shanghai")
    lines = blocks[0].split("\n")
    assert "**Last 24 h**: 2 started · 1 succeeded · 1 failed" in lines
    runs = lines[lines.index("**Last 24 h**: 2 started · 1 succeeded · 1 failed") + 1 :][:3]
    assert runs == [
        "- ❌ x/f/a@latest · gen 2: failed after 1h 00m, ended 05:00",  # failed first
        "- 🏃 x/f/a@latest · gen 3: started 08:00, running for 1h 00m",  # then the newest
        "- ✅ x/f/b@latest · gen 7: succeeded in 2h 00m, ended 12-02 10:00",
    ]
    assert "gen 1" not in blocks[0]
    assert blocks[-1] == "- ✅ **x/f/b@latest** success · took 2h 00m · ended 12-02 10:00"


def test_many_runs_are_counted_beyond_the_first_ten() -> None:
    runs = tuple(FinishedRun(str(n), "success", NOW - HOUR_MS, NOW - MINUTE_MS) for n in range(10))
    entries = {f"a/f/i{n}@latest": TargetState(generation="9", status="success", runs=runs) for n in range(3)}
    _, blocks = render(list(entries), entries, NOW, "UTC")
    assert "**Last 24 h**: 30 started · 30 succeeded · 0 failed" in blocks[0]
    assert blocks[0].count("succeeded in 59m") == 10 and "- … +20 more runs" in blocks[0]


def test_failed_and_unreadable_targets_come_first() -> None:
    entries = {
        "a/f/ok@latest": TargetState(generation="1", status="success", progress=100),
        "a/f/run@latest": running(20),
        "a/f/failed@latest": TargetState(generation="1", status="failed", progress=60),
        "a/f/blind@latest": replace(running(40), error_count=4, error_alerted=True, last_error="auth: Forbidden"),
        "a/f/gone@3": TargetState(not_found=True),
    }
    keys = [*entries, "a/f/new@latest"]  # the last one: no tick has read it yet
    title, blocks = render(keys, entries, NOW, "UTC")
    assert title == "taskwatch summary: 6 targets, 1 running, 1 failed"
    counts = "**Now**: 1 running · 1 succeeded · 1 failed · 1 cannot be read · 1 not found · 1 not read yet"
    assert counts in blocks[0]
    assert [re.search(r"\*\*(.+?)\*\*", line)[1] for line in blocks[1:]] == [  # type: ignore[index]
        "a/f/failed@latest",
        "a/f/blind@latest",
        "a/f/gone@3",
        "a/f/run@latest",
        "a/f/new@latest",
        "a/f/ok@latest",
    ]
    assert blocks[2] == (
        "- ⚠️ **a/f/blind@latest** cannot be read (4 reads in a row): auth: Forbidden · last seen running 40%"
    )
    assert blocks[3] == "- ❓ **a/f/gone@3** not found" and blocks[5] == "- ⏳ **a/f/new@latest** not read yet"
    stalled = replace(running(40), stalled=True)
    _, blocks = render(["a/f/s@latest", "a/f/run@latest"], {"a/f/s@latest": stalled, **entries}, NOW, "UTC")
    assert blocks[1] == "- ⏸️ **a/f/s@latest** running · ████░░░░░░ 40% · stalled"


def test_a_channel_gets_the_targets_its_watches_route_to_it() -> None:
    team_a = Route((Target("a", "f", "i"),), channels=("team-a",), kinds=("status",))
    team_b = Route((Target("b", "*", "*"), Target("a", "f", "j")), channels=("team-b",))
    everyone = Route((Target("c", "f", "i"),))
    keys = ["a/f/i@latest", "b/g/listed@latest", "c/f/i@latest", "z/f/uncovered@latest", "a/f/j@latest"]
    assert routed(keys, (team_a, team_b, everyone), ["team-a", "team-b"]) == {
        # its kinds filter aside: a summary is no change of any kind
        "team-a": ["a/f/i@latest", "c/f/i@latest", "z/f/uncovered@latest"],
        # a wildcard's listed instances, and a named target of a watch that has a wildcard too
        "team-b": ["b/g/listed@latest", "c/f/i@latest", "z/f/uncovered@latest", "a/f/j@latest"],
    }
    assert routed(keys, (), ["anyone"]) == {"anyone": keys}  # no watches: every target everywhere


def test_the_targets_are_the_ones_a_status_lists() -> None:
    targets = (Target("a", "f", "i"), Target("w", "fn", "*"), Target("a", "f", "i"))
    state = State(discovered={"w/fn/*": Listing(("fn/one", "fn/two"), listed_at=1)})
    assert watched_keys(targets, state) == ["a/f/i@latest", "w/fn/one@latest", "w/fn/two@latest"]
    assert watched_keys(targets, None) == ["a/f/i@latest"]


# --- within each platform's limits ------------------------------------------------------------

LOOPBACK = "http://127.0.0.1:9"
CHANNELS = {
    "dingtalk": dingtalk.Options(f"{LOOPBACK}/robot/send?access_token=tok", secret="SECx", keyword="nightly"),
    "wecom": wecom.Options(f"{LOOPBACK}/cgi-bin/webhook/send?key=k"),
    "feishu": feishu.Options(f"{LOOPBACK}/open-apis/bot/v2/hook/t", secret="s", keyword="nightly"),
    "lark": lark.Options(f"{LOOPBACK}/open-apis/bot/v2/hook/t"),
    "slack": slack.Options(f"{LOOPBACK}/services/T/B/x"),
    "webhook": webhook.Options(f"{LOOPBACK}/hook"),
    "console": console.Options(),
}


def wire_bytes(kind: str, message: Message) -> int:
    """The bytes of the request body the platform's client would send."""
    if kind == "dingtalk":
        return len(dingtalk.body(message, "0" * 32))
    if kind == "wecom":
        return len(wecom.body(message))
    if kind in ("feishu", "lark"):
        options = CHANNELS[kind]
        assert isinstance(options, feishu.Options)
        return len(feishu.body(message, options.keyword, feishu.STAMP_ROOM if options.secret else None))
    if kind == "slack":
        assert len(slack.payload(message)["blocks"]) <= slack.MAX_BLOCKS
        return len(slack.body(message))
    return len(message.text.encode())


@pytest.mark.parametrize("kind", list(CHANNELS))
def test_a_summary_of_1000_targets_fits_every_platform(kind: str) -> None:
    keys = [f"app{n % 7}/function_{n}/instance-{n}@latest" for n in range(1000)]
    entries = {key: running(n % 100, ((NOW - HOUR_MS, 0.0), (NOW, n % 100))) for n, key in enumerate(keys)}
    title, blocks = render(keys, entries, NOW, "Asia/Shanghai")
    client = notifiers.build_notifier(Channel(kind, kind, CHANNELS[kind]), DEFAULT_TIMEOUTS)
    message = client.compose(title, blocks, "Asia/Shanghai")
    assert message.at_mobiles == () and message.title == title and message.text.startswith(f"#### {title}\n\n")
    shown = message.text.count("\n- 🏃 **")
    limit = getattr(notifiers.load("feishu" if kind == "lark" else kind), "MAX_BYTES", None)
    if limit is None:  # a program, or a terminal: every target, nothing cut
        assert shown == 1000 and not MORE.search(message.text)
        return
    assert wire_bytes(kind, message) <= limit
    more = MORE.search(message.text)
    assert more is not None and shown >= 10 and shown + int(more[1]) == 1000
    assert blocks[0] in message.text  # the counts and the last 24 h always lead
    if kind in ("dingtalk", "feishu"):
        assert message.text.rstrip().endswith("nightly")  # the keyword mode's word
    if kind != "slack":  # (Slack's limit is as much its 50 sections as its bytes)
        assert limit - wire_bytes(kind, message) < 400  # about as many as fit: less than two lines to spare


# --- one message per channel and hour ---------------------------------------------------------


class Recorder:
    """A channel's client that keeps what it is sent; ``fail`` makes its next sends fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[Message, str | None]] = []
        self.fail = 0
        self._lock = threading.Lock()

    def digest(self, *args: Any, **kw: Any) -> Message:
        raise AssertionError("a summary renders no digest")

    def compose(self, title: str, blocks: list[str], zone: str = "UTC") -> Message:
        return console.ConsoleNotifier().compose(title, blocks, zone)

    def send(self, message: Message, key: str | None = None) -> None:
        with self._lock:
            if self.fail:
                self.fail -= 1
                raise DeliveryError("DingTalk answered errcode 310000: token=abc", retryable=False)
            self.sent.append((message, key))


def event(store: MemoryStore, clients: dict[str, Recorder], at: int, config: Settings | None = None) -> dict[str, str]:
    config = config or settings("a/f/i", channels=tuple(clients))
    state = State(revision=1, targets={"a/f/i@latest": running(30)})
    result = summarize(config, state, clients, store, now=NOW, event_ms=at)  # type: ignore[arg-type]
    return result.channels


def test_two_events_of_one_hour_send_one_message_and_another_hour_one_more() -> None:
    store, clients = MemoryStore(), {"team-a": Recorder(), "team-b": Recorder()}
    assert event(store, clients, NOW) == {"team-a": "sent", "team-b": "sent"}
    assert event(store, clients, NOW + 59 * MINUTE_MS) == {"team-a": "sentByAnotherTick", "team-b": "sentByAnotherTick"}
    assert [len(c.sent) for c in clients.values()] == [1, 1]
    assert event(store, clients, NOW + HOUR_MS) == {"team-a": "sent", "team-b": "sent"}
    assert [len(c.sent) for c in clients.values()] == [2, 2]
    assert sorted(store.objects) == [
        "claims/team-a/summary-2026120301",
        "claims/team-a/summary-2026120302",
        "claims/team-b/summary-2026120301",
        "claims/team-b/summary-2026120302",
    ]
    assert json.loads(store.objects["claims/team-a/summary-2026120301"])["status"] == "sent"
    # Each channel's message has its own deterministic id (DingTalk's msgUuid, a webhook's id).
    keys = [key for c in clients.values() for _, key in c.sent]
    assert len(set(keys)) == 4 and all(key and len(key) == 32 for key in keys)


def test_a_failed_send_releases_the_claim_and_the_next_event_sends() -> None:
    store, clients = MemoryStore(), {"team-a": Recorder(), "team-b": Recorder()}
    clients["team-a"].fail = 1
    outcome = event(store, clients, NOW)
    assert outcome["team-b"] == "sent" and outcome["team-a"].startswith("failed: DingTalk answered errcode 310000")
    assert "claims/team-a/summary-2026120301" not in store.objects  # released: a retry may send
    assert event(store, clients, NOW + MINUTE_MS) == {"team-a": "sent", "team-b": "sentByAnotherTick"}
    assert [len(c.sent) for c in clients.values()] == [1, 1]


class Broken(Recorder):
    def compose(self, title: str, blocks: list[str], zone: str = "UTC") -> Message:
        raise KeyError("a rendering bug")


def test_a_rendering_failure_fails_that_channel_only_and_releases_its_claim() -> None:
    store, clients = MemoryStore(), {"team-a": Broken(), "team-b": Recorder()}
    assert event(store, clients, NOW) == {"team-a": "failed: KeyError while rendering or sending", "team-b": "sent"}
    assert sorted(store.objects) == ["claims/team-b/summary-2026120301"]


def test_a_dry_run_renders_every_channel_and_writes_nothing() -> None:
    store, clients = MemoryStore(), {"team-a": Recorder(), "team-b": Broken()}
    state = State(revision=1, targets={"a/f/i@latest": running(30)})
    config = settings("a/f/i", channels=tuple(clients))
    result = summarize(config, state, clients, store, now=NOW, event_ms=NOW, dry_run=True)  # type: ignore[arg-type]
    body = result.to_json()
    assert body["channels"] == {"team-a": "dryRun", "team-b": "failed: KeyError while rendering"}
    assert body["text"]["team-a"].startswith("#### taskwatch summary: 1 target, 1 running, 0 failed\n\n")
    assert body["hour"] == "2026-12-03T01:00:00Z" and body["targets"] == 1
    assert not store.writes and not clients["team-a"].sent


def test_the_failure_is_one_line_naming_the_channel() -> None:
    result = summary_run.SummaryResult("2026-12-03T01:00:00Z", 3, channels={"a": "sent", "b": "failed: boom\nagain"})
    assert result.failure() == "summary not delivered to 1 channel(s); b: boom again"
    assert summary_run.SummaryResult("h", 0, channels={"a": "sent"}).failure() is None
    assert result.to_json() == {"hour": "2026-12-03T01:00:00Z", "channels": result.channels, "targets": 3}


def test_four_concurrent_events_of_one_hour_send_one_message_per_channel() -> None:
    store, clients = MemoryStore(), {"team-a": Recorder(), "team-b": Recorder()}
    start = threading.Barrier(4)
    outcomes: list[dict[str, str]] = []

    def one() -> None:
        start.wait()
        outcomes.append(event(store, clients, NOW + MINUTE_MS))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [len(c.sent) for c in clients.values()] == [1, 1]
    for name in clients:
        assert sorted(o[name] for o in outcomes) == ["sent", *["sentByAnotherTick"] * 3]


def test_a_live_claim_holds_and_an_expired_one_is_taken_over() -> None:
    store = MemoryStore()
    base = "claims/c/summary-2026120301"
    live = {"status": "sending", "tick": "other", "at": NOW, "expires": NOW + 60_000}
    store.put(base, json.dumps(live).encode())
    assert claim_hour(store, base, "mine", NOW) is None
    assert claim_hour(store, base, "other", NOW) == base  # its own claim, answered late
    store.put(base, json.dumps({**live, "expires": NOW - 1}).encode())  # its run died
    assert claim_hour(store, base, "mine", NOW) == f"{base}.1"
    assert claim_hour(store, base, "third", NOW) is None  # .1 is live now
    store.put(f"{base}.1", json.dumps({"status": "sent"}).encode())
    assert claim_hour(store, base, "fourth", NOW) is None
    store.put(f"{base}.2", b"not json")
    assert claim_hour(MemoryStore(), base, "x", NOW) == base


def test_the_hour_is_the_trigger_time_else_now(caplog: pytest.LogCaptureFixture) -> None:
    assert trigger_ms("2026-12-03T01:00:00Z", 0) == NOW
    assert hour_of(trigger_ms("2026-12-03T01:59:59.500+00:00", 0)) == hour_of(NOW)
    assert hour_of(trigger_ms("2026-12-03T09:30:00+08:00", 0)) == hour_of(NOW)
    assert trigger_ms("2026-12-03T01:00:00", 0) == NOW  # no offset: UTC, as FC sends it
    for bad in ("", "yesterday", "1970-01-01T00:00:00Z", "2026-13-03T01:00:00Z"):
        with caplog.at_level(logging.WARNING, logger="taskwatch"):
            assert trigger_ms(bad, 12345) == 12345
    assert "bad_trigger_time" in caplog.text
