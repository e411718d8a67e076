"""`taskwatch demo` plays the whole scripted run through the handler and prints every message."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

from taskwatch.insight import MINUS
from taskwatch_emulator.demo import TICKS, run_demo


def between(text: str, start: str, end: str | None = None) -> str:
    """The part of ``text`` from ``start`` up to ``end`` (or the end)."""
    part = text.split(start, 1)[1]
    return part.split(end, 1)[0] if end else part


def test_demo_plays_a_training_run() -> None:
    out = io.StringIO()
    slept: list[float] = []

    assert run_demo(out=out, sleep=slept.append) == 0

    text = out.getvalue()
    # At the default speed the pauses stay within the demo's budget of about 12 s (ticks take ~1.5 s).
    assert sum(slept) <= 10, sum(slept)
    assert text.count("💬 DingTalk:") == 12  # 11 ticks' digests, then the summary
    # Discovery: the wildcard's second instance, created at minute 22, is found by the listing at 30.
    found = between(text, "[tick  7 ·", "[tick  8 ·")
    assert "demo_search/query_intent/en@latest · gen 401" in found and "now watching" in found
    assert f"[tick {TICKS:2d} ·" in text
    for expected in (
        "now watching: running",
        "progress: passed 25%",
        "stalled",
        "moving again",
        "✅ running → success",
        "metrics: recall@50=0.924, ndcg@10=0.613",
        "❌ running → failed",
        "errors: worker 3: CUDA out of memory",
        "@13800000000",
        "new run: running",
    ):
        assert expected in text, expected
    assert "failed:" not in text  # no tick failed
    assert "\033[" not in text  # no colour codes when not a terminal


def test_demo_shows_the_insight() -> None:
    out = io.StringIO()
    assert run_demo(out=out, pause=0) == 0
    text = out.getvalue()

    # Times in Asia/Shanghai, with the offset: the demo's lines and the messages alike.
    assert "[tick  1 · 17:00 (+08:00)]" in text
    assert "started 2026-11-28 17:00 (+08:00), ended 2026-11-28 17:30 (+08:00), took 30m" in text
    assert " UTC" not in text
    # Progress: the ETA of a linear fit and the sparkline of the samples.
    progress = between(text, "[tick  4 ·", "[tick  5 ·")
    assert "progress: passed 50%" in progress
    assert "- progress: ██████░░░░ 60% ▁▂▃▅" in progress and "- ETA: ~11m left, ≈ 17:25" in progress

    # Quiet hours: two ticks inside; the failure went out at once (pinging), the rest waited and
    # came out together in one digest, the first after the window.
    assert text.count("🌙") == 1 and text.count("☀️") == 1
    window = between(text, "🌙", "☀️")
    assert "[tick  8 ·" in window and "[tick  9 ·" in window and "[tick 10 ·" not in window
    assert "1 held until the quiet hours end" in between(window, "[tick  8 ·", "[tick  9 ·")
    assert window.count("💬 DingTalk:") == 1
    failure = between(window, "💬 DingTalk:")
    assert "canary@2001 · gen 2001" in failure and "❌ running → failed" in failure and "@13800000000" in failure
    assert "query_intent/en" not in failure and "gen 1002" not in failure
    released = between(text, "☀️", "[tick 11 ·")
    assert "the 2 change(s) that waited go out" in released
    assert released.count("💬 DingTalk:") == 1
    assert "prod@latest · gen 1002" in released and "new run: running" in released  # held at 17:35
    assert "query_intent/en@latest · gen 401" in released and "✅ running → success" in released  # held at 17:40
    assert "@13800000000" not in released  # nothing urgent in it

    # The next run of the same instance regresses: urgent, with the comparison and the durations.
    regression = between(text, "[tick 15 ·", "[tick")
    assert "prod@latest · gen 1002" in regression
    assert "⚠️ regression" in regression
    assert f"worse than the last successful run: recall@50 0.897 (0.924, {MINUS}2.9%)" in regression
    assert f"metrics: recall@50 0.897 (0.924, {MINUS}2.9%), ndcg@10 0.611 (0.613, {MINUS}0.3%)" in regression
    assert "took 35m, last run 30m, +17%" in regression
    assert "@13800000000" in regression

    # The failed canary is told again after REMIND_HOURS; the idle ticks before it play as one line.
    assert "[ticks 16-20 · 18:15-18:35 (+08:00)] 0 change(s) each" in text
    reminder = between(text, f"[tick {TICKS:2d} · 18:40 (+08:00)]", "[summary")
    assert "canary@2001" in reminder and "⏰ reminder" in reminder and "still failing for 1h" in reminder

    # Then the daily summary, through the handler like a tick.
    summary = between(text, "[summary · 18:45 (+08:00)]", "\n\n")
    assert summary.count("💬 DingTalk:") == 1
    assert "canary@2001" in summary and "failed" in summary


def test_the_summary_hook_sends_the_summary_triggers_event() -> None:
    from datetime import datetime, timezone

    from taskwatch_emulator.demo import send_summary, summary_event

    at = datetime(2026, 11, 28, 10, 45, tzinfo=timezone.utc).timestamp()
    assert summary_event(at) == {"triggerTime": "2026-11-28T10:45:00Z", "triggerName": "summary", "payload": "summary"}
    seen: list[tuple[Any, ...]] = []

    def handle(event: bytes, context: Any, wiring: Any) -> str:
        seen.append((json.loads(event), context.request_id, wiring))
        return "{}"

    wiring = object()
    assert send_summary(handle, wiring, at) == "{}"
    assert seen == [(summary_event(at), "demo-summary", wiring)]


def test_demo_channels_routes_each_team_to_its_chats(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`taskwatch demo --channels`: five platforms from one config file, each in its own format."""
    from taskwatch.cli import main
    from taskwatch_emulator import Emulator, demo_channels
    from taskwatch_emulator.demo_channels import (
        CHANNELS,
        NLP_MOBILE,
        ONCALL_MOBILE,
        RANKING_MEMBER,
        RANKING_OPEN_ID,
    )

    seen: dict[str, list[dict[str, Any]]] = {}
    mentions: dict[str, list[str]] = {}

    def keep(emu: Emulator) -> None:
        for fake in (emu.dingtalk, emu.wecom, emu.feishu, emu.slack, emu.webhook):
            seen[fake.name] = list(fake.messages)
        for fake in (emu.wecom, emu.feishu, emu.slack):
            mentions[fake.name] = fake.mentions()
        assert not emu.lark.messages

    original = demo_channels.run_channels_demo
    monkeypatch.setattr(demo_channels, "run_channels_demo", lambda speed: original(speed=speed, inspect=keep))
    started = time.monotonic()
    assert main(["demo", "--channels", "--speed", "1000"]) == 0
    assert time.monotonic() - started < 15
    out = capsys.readouterr().out

    # Every channel received messages, each printed with its channel and platform.
    for outlet in CHANNELS:
        assert seen[outlet.platform], outlet
        assert f"💬 [{outlet.name} · {outlet.platform}]" in out

    def texts(platform: str) -> str:
        return json.dumps(seen[platform], ensure_ascii=False)

    # Routing: each team's targets reach only that team's channels (and the audit webhook).
    ranking, intent = "demo_search/ltr_ranker/", "demo_search/query_intent/"
    for platform in ("feishu", "dingtalk", "slack"):
        assert ranking in texts(platform) and intent not in texts(platform), platform
    assert intent in texts("wecom") and ranking not in texts("wecom")
    audited = {c["target"].rsplit("/", 1)[0] + "/" for m in seen["webhook"] for c in m["changes"]}
    assert {ranking, intent} <= audited
    # The on-call DingTalk channel's kinds filter: failures, stalls and channel alerts only.
    assert "now watching" not in texts("dingtalk") and "progress: passed" not in texts("dingtalk")
    assert "❌ running →" in texts("dingtalk") and "⏸️ stalled" in texts("dingtalk")

    # Mentions, each in its platform's form, and only the ids that platform pings by.
    assert mentions["feishu"] and set(mentions["feishu"]) == {RANKING_OPEN_ID}
    assert f"<at id={RANKING_OPEN_ID}></at>" in texts("feishu")
    assert mentions["slack"] and set(mentions["slack"]) == {RANKING_MEMBER}
    pinged = [m for m in seen["dingtalk"] if m["at"]["atMobiles"]]
    assert pinged and all(
        m["at"]["atMobiles"] == [ONCALL_MOBILE] and f"@{ONCALL_MOBILE}" in m["markdown"]["text"] for m in pinged
    )
    # WeCom markdown cannot ping: the urgent digest is followed by a text message that does.
    assert mentions["wecom"] == [NLP_MOBILE]
    kinds = [m["msgtype"] for m in seen["wecom"]]
    assert kinds.index("text") > 0 and kinds[kinds.index("text") - 1] == "markdown"
    assert NLP_MOBILE not in json.dumps([m for m in seen["wecom"] if m["msgtype"] == "markdown"])
    for platform in ("feishu", "slack", "wecom", "webhook"):  # nobody is pinged by an id of another platform
        assert ONCALL_MOBILE not in texts(platform), platform
    for who in (RANKING_OPEN_ID, RANKING_MEMBER, NLP_MOBILE):
        assert who not in texts("webhook")

    # The Slack outage: its changes waited in its outbox, the others were told, then it caught up.
    assert "ml-platform: 2 change(s) pending in its outbox" in out
    for platform in ("feishu", "dingtalk", "wecom"):
        assert "channel failing" in texts(platform) and "channel delivers again" in texts(platform), platform
    assert "channel:ml-platform" not in texts("slack")
    slack = [json.dumps(m["blocks"], ensure_ascii=False).replace("*", "") for m in seen["slack"]]
    caught_up = next(blocks for blocks in slack if "passed 25%" in blocks)  # in one digest, oldest first
    assert caught_up.index("passed 25%") < caught_up.index("passed 50%") < caught_up.index("passed 75%")
    assert "failed:" not in out and "Traceback" not in out
