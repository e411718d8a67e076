"""Slack incoming webhook fake through requests: plain-text answers, block limits, 429."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from taskwatch_emulator import Emulator, ManualClock, SlackFake

PATH = "/services/T0TEST/B0TEST/slacksecret7Hg8Jk9Lq0Wz"


@pytest.fixture
def slack(clock: ManualClock) -> Iterator[SlackFake]:
    with Emulator(slack_path=PATH, clock=clock) as emu:
        assert emu.slack_webhook == emu.slack.endpoint + PATH
        yield emu.slack
    assert not emu.slack.errors


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def send(
    fake: SlackFake, body: Any = None, *, path: str = PATH, data: bytes | None = None, timeout: float = 2
) -> requests.Response:
    if data is not None:
        return requests.post(fake.endpoint + path, data=data, timeout=timeout)
    return requests.post(fake.endpoint + path, json={"text": "hello"} if body is None else body, timeout=timeout)


def answer(r: requests.Response) -> tuple[int, str]:
    assert r.headers["Content-Type"].startswith("text/plain")
    return r.status_code, r.text


def test_text_and_blocks_accepted(slack: SlackFake) -> None:
    seen: list[dict[str, Any]] = []
    slack.on_message = seen.append
    header = {"type": "header", "text": {"type": "plain_text", "text": "tw"}}
    blocks = [header, section("*failed* <@U0DEF|dev> <@W0GHI>"), {"type": "divider"}]
    msg: dict[str, Any] = {"text": "fallback <@U0ABC>", "blocks": blocks}
    assert answer(send(slack, msg)) == (200, "ok")
    assert slack.wait_for(1, timeout=0.1) == seen == slack.messages == [msg]
    assert slack.texts() == ["fallback <@U0ABC>\ntw\n*failed* <@U0DEF|dev> <@W0GHI>"]
    assert slack.mentions() == ["U0ABC", "U0DEF", "W0GHI"]


def test_blocks_without_text_and_form_payload(slack: SlackFake) -> None:
    assert answer(send(slack, {"blocks": [section("only blocks")]})) == (200, "ok")
    form = requests.post(slack.endpoint + PATH, data={"payload": json.dumps({"text": "form"})}, timeout=2)
    assert answer(form) == (200, "ok")
    assert slack.texts() == ["only blocks", "form"]


def test_block_count_edge(slack: SlackFake) -> None:
    assert answer(send(slack, {"text": "t", "blocks": [section("b")] * 50})) == (200, "ok")
    assert answer(send(slack, {"text": "t", "blocks": [section("b")] * 51})) == (400, "invalid_blocks")
    assert len(slack.messages) == 1


def test_section_text_edge_is_3000_characters(slack: SlackFake) -> None:
    assert answer(send(slack, {"text": "t", "blocks": [section("训" * 3000)]})) == (200, "ok")
    assert answer(send(slack, {"text": "t", "blocks": [section("x" * 3001)]})) == (400, "invalid_blocks")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "no_text"),
        ({"text": ""}, "no_text"),
        ({"blocks": []}, "no_text"),
        ({"text": 5}, "invalid_payload"),
        ({"text": "t", "blocks": {"type": "divider"}}, "invalid_blocks_format"),
        ({"text": "t", "blocks": [{"type": "nonsense"}]}, "invalid_blocks"),
        ({"text": "t", "blocks": [{"type": "section"}]}, "invalid_blocks"),
        ({"text": "t", "blocks": [{"type": "section", "text": {"type": "html", "text": "x"}}]}, "invalid_blocks"),
        (
            {"text": "t", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
            "invalid_blocks",
        ),
        (
            {"text": "t", "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}]},
            "invalid_blocks",
        ),
        ([{"text": "t"}], "invalid_payload"),
    ],
)
def test_refusals(slack: SlackFake, body: Any, expected: str) -> None:
    assert answer(send(slack, body)) == (400, expected)
    assert slack.messages == []


def test_not_json(slack: SlackFake) -> None:
    assert answer(send(slack, data=b"{not json")) == (400, "invalid_payload")


def test_bad_path_is_no_service(slack: SlackFake) -> None:
    assert answer(send(slack, path=PATH[:-1] + "X")) == (404, "no_service")
    assert answer(send(slack, path="/services/T0TEST/B0TEST")) == (404, "no_service")


def test_rate_limit_429_with_retry_after(slack: SlackFake, clock: ManualClock) -> None:
    codes = [send(slack).status_code for _ in range(61)]
    assert codes == [200] * 60 + [429]
    r = send(slack)
    assert answer(r) == (429, "rate_limited") and r.headers["Retry-After"] == "30"
    clock.advance(60.5)
    assert answer(send(slack)) == (200, "ok")
    assert len(slack.messages) == 61


def test_per_minute_is_configurable(slack: SlackFake) -> None:
    slack.per_minute = 2
    assert [send(slack).status_code for _ in range(3)] == [200, 200, 429]


def test_faults(slack: SlackFake) -> None:
    slack.inject("status", status=429)
    slack.inject("errcode", message="invalid_token")
    slack.inject("status", status=500)
    slack.inject("malformed")
    slack.inject("reset")
    r = send(slack)
    assert answer(r) == (429, "rate_limited") and r.headers["Retry-After"] == "30"
    assert answer(send(slack)) == (400, "invalid_token")
    assert send(slack).status_code == 500
    r = send(slack)
    assert r.status_code == 200 and r.text != "ok"
    with pytest.raises(requests.ConnectionError):
        send(slack)
    assert slack.messages == [] and slack.count(PATH) == 5
