"""Slack: mrkdwn sections within Slack's block rules, mentions, escaping, the answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses
from helpers.changes import change, failing, progressing
from helpers.chat import entry, refusal, sent_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from responses import matchers

from taskwatch.config import ConfigError
from taskwatch.digest import Message
from taskwatch.model import ChangeKind
from taskwatch.notifiers import slack
from taskwatch.notifiers._http import Poster
from taskwatch.notifiers.slack import MAX_BLOCKS, MAX_BYTES, MAX_SECTION, SlackNotifier
from taskwatch.ports import DeliveryError
from taskwatch.redact import mask_url, url_secrets

HOOK_SECRET = "xQ7rT2pL9mN4vB8cK3jH6gF1"
URL = f"https://hooks.slack.com/services/T0123ABCD/B0456EFGH/{HOOK_SECRET}"


def notifier(members: tuple[str, ...] = (), sleep: Callable[[float], None] = lambda _: None) -> SlackNotifier:
    """The client ``slack.build`` makes, with no wait before the retry."""
    options = slack.Options(URL, members=members)
    return SlackNotifier(options, Poster("Slack", slack.secrets(options), sleep=sleep))


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def sent(message: Message, channel: SlackNotifier | None = None) -> bytes:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, body="ok")
        (channel or notifier()).send(message)
        return sent_bytes(mock)


def test_the_digest_is_posted_as_mrkdwn_sections() -> None:
    message = notifier().digest([progressing(1)])
    expected = {
        "text": "taskwatch: 1 change",
        "blocks": [
            section("*taskwatch: 1 change*"),
            section("*app/fn/inst1@latest* · gen 1\n- 🏃 progress: passed *50%*\n- progress: █████░░░░░ 50%"),
        ],
    }
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(
            URL,
            body="ok",
            match=[
                matchers.json_params_matcher(expected),
                matchers.header_matcher({"Content-Type": "application/json; charset=utf-8"}),
            ],
        )
        notifier().send(message, key="digest-id")


def test_mentions_ping_and_nothing_else_can() -> None:
    hostile = change(ChangeKind.ERROR, detail="denied <!channel> <https://evil.example|click> & <@U999ZZZ>")
    channel = notifier(members=("U0123ABCD",))
    message = channel.digest([hostile], mentions=("W0456EFGH", "ou_feishu", "13800000000", "<!here>"))
    data = json.loads(sent(message, channel))
    texts = [block["text"]["text"] for block in data["blocks"]]
    assert texts[-1] == "<@U0123ABCD> <@W0456EFGH>"
    assert data["text"] == "taskwatch: 1 change <@U0123ABCD> <@W0456EFGH>"  # notifications ping too
    assert "denied &lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; &lt;@U999ZZZ&gt;" in texts[1]
    assert "ou_feishu" not in str(data) and "13800000000" not in str(data) and "here" not in str(data)


def test_a_paragraph_over_3000_characters_is_split_at_line_ends() -> None:
    detail = "\n".join(f"line {i} " + "é" * 200 for i in range(40))  # one block of about 8,500 characters
    message = notifier().digest([change(ChangeKind.ERROR, detail=detail)])
    blocks = json.loads(sent(message))["blocks"]
    texts = [block["text"]["text"] for block in blocks]
    assert len(blocks) >= 4 and all(len(text) <= MAX_SECTION for text in texts)
    assert "\n".join(texts[1:]).endswith(detail.split("\n")[-1]) and all(not t.startswith("é") for t in texts)


def test_a_line_over_3000_characters_is_cut_and_no_entity_is_split() -> None:
    line = "&" * 700 + "🙂" * 2_000  # 3,500 characters escaped, 4,000 UTF-16 units of emoji
    pieces = slack.pieces(slack.escape(line))
    assert all(len(p.encode("utf-16-le")) // 2 <= MAX_SECTION for p in pieces)
    assert "".join(pieces) == slack.escape(line) and all(not p.startswith(("amp;", "mp;", "p;", ";")) for p in pieces)


def test_three_hundred_failures_keep_to_50_blocks_and_end_with_more() -> None:
    channel = notifier()
    message = channel.digest([failing(n) for n in range(300)])
    body = sent(message, channel)
    blocks = json.loads(body)["blocks"]
    assert len(body) <= MAX_BYTES and len(blocks) <= MAX_BLOCKS
    assert all(len(block["text"]["text"]) <= MAX_SECTION for block in blocks)
    shown = sum(block["text"]["text"].startswith("*app_") for block in blocks)
    assert 0 < shown < 300 and blocks[-1]["text"]["text"].startswith(f"… +{300 - shown} more")


def test_three_hundred_short_blocks_are_cut_by_the_block_count() -> None:
    channel = notifier(members=("U0123ABCD",))
    message = channel.digest([failing(1), *(progressing(n) for n in range(2, 301))])
    body = sent(message, channel)
    blocks = json.loads(body)["blocks"]
    assert len(blocks) == MAX_BLOCKS and len(body) < MAX_BYTES / 2  # the bytes would allow more
    assert blocks[-2]["text"]["text"].startswith("… +") and blocks[-1]["text"]["text"] == "<@U0123ABCD>"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(1, 300), mentions=st.integers(0, 50), error_text=st.text(max_size=300))
def test_the_body_sent_always_keeps_to_slacks_rules(count: int, mentions: int, error_text: str) -> None:
    members = tuple(f"U{n:010d}" for n in range(mentions))
    channel = notifier(members=members)
    message = channel.digest([failing(n, error_text) for n in range(count)])
    body = sent(message, channel)
    blocks = json.loads(body)["blocks"]
    assert len(body) <= MAX_BYTES and 0 < len(blocks) <= MAX_BLOCKS
    assert all(0 < len(block["text"]["text"].encode("utf-16-le")) // 2 <= MAX_SECTION for block in blocks)
    assert all(f"<@{member}>" in blocks[-1]["text"]["text"] for member in members)


@pytest.mark.parametrize(
    ("answers", "retryable", "rate_limited", "calls", "fragment"),
    [
        ([{"status": 429, "body": "rate_limited", "headers": {"Retry-After": "30"}}], True, True, 1, "Retry-After 30"),
        ([{"status": 400, "body": "invalid_payload"}], False, False, 1, "invalid_payload"),
        ([{"status": 403, "body": "invalid_token"}], False, False, 1, "invalid_token"),
        ([{"status": 404, "body": "no_service"}], False, False, 1, "no_service"),
        ([{"status": 404, "body": "channel_not_found"}], False, False, 1, "channel_not_found"),
        ([{"status": 410, "body": "channel_is_archived"}], False, False, 1, "HTTP 410"),
        ([{"status": 500, "body": "internal_error"}] * 2, True, False, 2, "HTTP 500"),
        ([{"body": "something else"}] * 2, True, False, 2, "instead of ok"),
        ([{"body": requests.ConnectTimeout()}] * 2, True, False, 2, "timed out"),
    ],
)
def test_answers(
    answers: list[dict[str, object]], retryable: bool, rate_limited: bool, calls: int, fragment: str
) -> None:
    err, made = refusal(URL, answers, lambda: notifier().send(Message("t", "x", ())))
    assert made == calls and err.retryable is retryable and err.rate_limited is rate_limited
    assert fragment in str(err)


def test_a_5xx_is_retried_once_after_the_backoff() -> None:
    slept: list[float] = []
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, status=503)
        mock.post(URL, body="ok")
        notifier(sleep=slept.append).send(Message("t", "x", ()))
    assert slept == [0.5]


def test_the_hook_secret_echoed_in_an_answer_never_reaches_the_error() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, status=404, body=f"no_service: {URL}")
        with pytest.raises(DeliveryError) as err:
            notifier().send(Message("t", "x", ()))
    assert HOOK_SECRET not in str(err.value) and HOOK_SECRET[:12] not in str(err.value)


# --- the config file ------------------------------------------------------------------------------


def test_from_entry_and_the_secret_part_of_the_path() -> None:
    options = slack.from_entry(entry("slack", URL, mention=("U0123ABCD", "W0456EFGH")))
    assert options == slack.Options(webhook=URL, members=("U0123ABCD", "W0456EFGH"))
    assert HOOK_SECRET in slack.secrets(options) and HOOK_SECRET not in repr(options)
    assert mask_url(URL) == "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/***"
    assert url_secrets(URL) == [HOOK_SECRET] * 3


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"url": None}, "channel[2].url", "is required"),
        ({"url": URL.replace("https:", "http:")}, "channel[2].url", "https://"),
        ({"url": f"https://hooks.slack.com/services/B0456EFGH/{HOOK_SECRET}"}, "channel[2].url", "services/"),
        ({"url": URL, "secret": "signing-secret-123456"}, "channel[2].secret", "not signed"),
        ({"url": URL, "keyword": "taskwatch"}, "channel[2].keyword", "no keyword mode"),
        ({"url": URL, "mention": ("U0123ABCD", "@alice")}, "channel[2].mention[1]", "member id"),
    ],
)
def test_from_entry_errors_name_the_key_and_mask_the_url(kwargs: dict[str, object], path: str, fragment: str) -> None:
    url = kwargs.pop("url")
    with pytest.raises(ConfigError) as err:
        slack.from_entry(entry("slack", url, **kwargs))  # type: ignore[arg-type]
    assert err.value.path == path and fragment in str(err.value)
    assert HOOK_SECRET not in str(err.value) and "signing-secret" not in str(err.value)
