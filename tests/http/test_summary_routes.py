"""The summary's entry points through FC's entry point: a timer event whose payload is ``summary``,
``POST /summary`` (``?dryRun=true``), with the router's auth and method rules; a fixed clock, file
state, and strict fakes of OpenSearch (never called) and DingTalk."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import responses
from helpers.fc import EVENTS, Context, http_event, load_event
from twhttp import DINGTALK, Reply, check_answer

from taskwatch.fc import handle
from taskwatch.ports import Timeouts
from taskwatch.settings import SettingsError
from taskwatch.state import State, TargetState
from taskwatch.wiring import Wiring

NOW = int(datetime(2026, 12, 3, 1, 20, tzinfo=timezone.utc).timestamp() * 1000)
KEY = "app1/rec/inst1@1700"
WIRING = Wiring(clock=lambda: NOW)


@pytest.fixture(autouse=True)
def stored(env: Path) -> Path:
    """A state a tick left: the one target running at 30 %."""
    env.mkdir(parents=True, exist_ok=True)
    entry = TargetState(generation="1700", status="running", progress=30, start_time=NOW - 3_600_000)
    (env / "state.json").write_text(json.dumps(State(revision=3, targets={KEY: entry}).to_json()))
    return env


def call(event: dict[str, Any], wiring: Wiring = WIRING) -> Reply:
    answer = handle(json.dumps(event).encode(), Context(), wiring)
    check_answer(answer)
    return Reply(answer["statusCode"], answer["headers"], json.loads(answer["body"]), answer)


def timer(trigger_time: str, payload: str = "summary") -> bytes:
    return json.dumps({"triggerTime": trigger_time, "triggerName": "summary", "payload": payload}).encode()


def accept(dingtalk: responses.RequestsMock, errcode: int = 0) -> None:
    dingtalk.post(re.compile(re.escape(DINGTALK) + r".*"), json={"errcode": errcode, "errmsg": "x"})


def sent(dingtalk: responses.RequestsMock) -> list[dict[str, Any]]:
    return [json.loads(c.request.body) for c in dingtalk.calls]


# --- POST /summary ----------------------------------------------------------------------------


def test_a_dry_run_answers_each_channels_message_and_sends_and_writes_nothing(
    opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock, stored: Path
) -> None:
    for query, body in [({"dryRun": "true"}, ""), ({}, '{"dryRun": true}'), ({"dryrun": ""}, "")]:
        reply = call(http_event("POST", "/summary", query=query, body=body))
        assert reply.status == 200, reply.json
        text = reply.json.pop("text")
        assert reply.json == {"hour": "2026-12-03T01:00:00Z", "channels": {"dingtalk": "dryRun"}, "targets": 1}
        assert text["dingtalk"].startswith("#### taskwatch summary: 1 target, 1 running, 0 failed\n\n")
        assert f"**{KEY}** running · ███░░░░░░░ 30%" in text["dingtalk"]
    assert not dingtalk.calls and not opensearch.calls
    assert sorted(p.name for p in stored.iterdir()) == ["state.json"]  # no claim either


def test_post_summary_sends_once_an_hour(opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock) -> None:
    accept(dingtalk)
    first = call(http_event("POST", "/summary"))
    assert (first.status, first.json) == (
        200,
        {"hour": "2026-12-03T01:00:00Z", "channels": {"dingtalk": "sent"}, "targets": 1},
    )
    again = call(http_event("POST", "/summary"), Wiring(clock=lambda: NOW + 30 * 60_000))  # 01:50, same hour
    assert again.status == 200 and again.json["channels"] == {"dingtalk": "sentByAnotherTick"}
    (message,) = sent(dingtalk)
    assert message["markdown"]["title"] == "taskwatch summary: 1 target, 1 running, 0 failed"
    assert message["at"]["atMobiles"] == [] and len(message["msgUuid"]) == 32  # a summary pings nobody
    assert not opensearch.calls
    later = call(http_event("POST", "/summary"), Wiring(clock=lambda: NOW + 40 * 60_000))  # 02:00: the next hour
    assert later.json["channels"] == {"dingtalk": "sent"} and len(dingtalk.calls) == 2


def test_a_failed_delivery_is_a_502_and_the_next_call_sends(dingtalk: responses.RequestsMock) -> None:
    accept(dingtalk, errcode=310000)
    reply = call(http_event("POST", "/summary"))
    assert reply.status == 502
    assert reply.json["channels"]["dingtalk"].startswith("failed: ")
    assert reply.json["error"].startswith("summary not delivered to 1 channel(s); dingtalk: ")
    dingtalk.reset()
    accept(dingtalk)
    assert call(http_event("POST", "/summary")).json["channels"] == {"dingtalk": "sent"}


def test_post_summary_needs_the_token_and_post(monkeypatch: pytest.MonkeyPatch) -> None:
    assert call(http_event("POST", "/summary", token=None)).status == 401
    assert call(http_event("POST", "/summary", token="wrong-token-0123456789")).status == 401
    for method in ("GET", "PUT", "DELETE"):
        reply = call(http_event(method, "/summary"))
        assert (reply.status, reply.headers["Allow"]) == (405, "POST, OPTIONS"), method
    reply = call(http_event("OPTIONS", "/summary"))
    assert (reply.status, reply.json) == (200, {"allow": ["POST", "OPTIONS"]})
    reply = call(http_event("POST", "/summary", query={"dryRun": "yes"}))
    assert reply.status == 400 and "dryRun must be true or false" in reply.json["error"]
    reply = call(http_event("POST", "/summary", query={"dry": "1"}))
    assert reply.status == 400 and "/summary takes only dryRun" in reply.json["error"]
    monkeypatch.delenv("TASKWATCH_HTTP_TOKEN")
    assert call(http_event("POST", "/summary")).status == 403


def test_post_summary_with_a_bad_setting_is_a_500_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKWATCH_TIMEZONE", "Mars/Olympus")
    reply = call(http_event("POST", "/summary", query={"dryRun": "1"}))
    assert reply.status == 500 and "TASKWATCH_TIMEZONE" in reply.json["error"]


def test_the_sample_dry_run_event(opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock) -> None:
    reply = call(load_event("http-summary-dryrun.json"))
    assert reply.status == 200 and reply.json["channels"] == {"dingtalk": "dryRun"} and not dingtalk.calls


# --- the timer ----------------------------------------------------------------------------------


def test_two_timer_events_of_one_hour_send_one_summary(
    opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock
) -> None:
    accept(dingtalk)
    first = json.loads(handle((EVENTS / "timer-summary.json").read_bytes(), Context(), WIRING))
    assert first == {"hour": "2026-12-03T01:00:00Z", "channels": {"dingtalk": "sent"}, "targets": 1}
    # FC fires late, or someone invokes it by hand: the same hour, nothing sent again.
    second = json.loads(handle(timer("2026-12-03T01:59:00Z", " summary\n"), Context(), WIRING))
    assert second["channels"] == {"dingtalk": "sentByAnotherTick"} and len(dingtalk.calls) == 1
    # The event's hour counts, not the clock's: the next day's event sends.
    third = json.loads(handle(timer("2026-12-04T01:00:00Z"), Context(), WIRING))
    assert third["channels"] == {"dingtalk": "sent"} and len(dingtalk.calls) == 2
    assert not opensearch.calls


def test_a_timer_event_without_a_usable_trigger_time_uses_the_clock(
    dingtalk: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    accept(dingtalk)
    answer = json.loads(handle(timer("soon"), Context(), WIRING))
    assert answer["hour"] == "2026-12-03T01:00:00Z" and '"bad_trigger_time"' in capsys.readouterr().err


def test_a_failed_timer_summary_fails_the_invocation_with_one_line(dingtalk: responses.RequestsMock) -> None:
    accept(dingtalk, errcode=310000)
    with pytest.raises(RuntimeError) as failure:
        handle(timer("2026-12-03T01:00:00Z"), Context(), WIRING)
    cause = str(failure.value)
    assert cause.startswith("summary not delivered to 1 channel(s); dingtalk: DingTalk errcode 310000: security")
    assert "\n" not in cause


def test_a_timer_summary_with_a_bad_setting_fails_as_a_tick_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TASKWATCH_ERROR_TICKS", "zero")
    with pytest.raises(SettingsError, match="TASKWATCH_ERROR_TICKS"):
        handle(timer("2026-12-03T01:00:00Z"), Context(), WIRING)
    err = capsys.readouterr().err
    assert '"summary_start"' in err and '"bad_settings"' in err


def test_any_other_payload_is_a_tick(opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock) -> None:
    opensearch.get(re.compile(r"https://opensearch\..*"), json={"RequestId": "r", "Result": {}}, status=503)
    quick = Wiring(clock=lambda: NOW, timeouts=Timeouts(opensearch_backoff=0))
    with pytest.raises(RuntimeError, match="could not be read"):
        handle(timer("2026-12-03T01:00:00Z", "summary please"), Context(), quick)
    assert opensearch.calls and not dingtalk.calls
