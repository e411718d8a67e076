"""WeCom: the markdown body, the text part that pings by mobile, the 4,096-byte budget, the answers."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import requests
import responses
from helpers.changes import failing, progressing
from helpers.chat import entry, log_lines, refusal, sent_bytes, sent_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from responses import matchers

from taskwatch.config import ConfigError
from taskwatch.digest import Message
from taskwatch.notifiers import wecom
from taskwatch.notifiers._http import Poster
from taskwatch.notifiers.wecom import MAX_BYTES, WeComNotifier
from taskwatch.ports import DeliveryError
from taskwatch.redact import mask_url, url_secrets

KEY = "693a91f6-7a2b-4c3d-wecom-robotkey9"
URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"
SEND = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
OK = {"json": {"errcode": 0, "errmsg": "ok"}}


def notifier(mobiles: tuple[str, ...] = (), sleep: Callable[[float], None] = lambda _: None) -> WeComNotifier:
    """The client ``wecom.build`` makes, with no wait before the retry."""
    options = wecom.Options(URL, mobiles=mobiles)
    return WeComNotifier(options, Poster("WeCom", wecom.secrets(options), sleep=sleep))


def test_a_calm_digest_is_one_markdown_message() -> None:
    message = notifier(mobiles=("13800000000",)).digest([progressing(1)])
    expected = {
        "msgtype": "markdown",
        "markdown": {
            "content": "#### taskwatch: 1 change\n\n**app/fn/inst1@latest** · gen 1\n"
            "- 🏃 progress: passed **50%**\n- progress: █████░░░░░ 50%"
        },
    }
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(
            SEND,
            match=[
                matchers.query_param_matcher({"key": KEY}),
                matchers.json_params_matcher(expected),
                matchers.header_matcher({"Content-Type": "application/json; charset=utf-8"}),
            ],
            **OK,
        )
        notifier().send(message, key="digest-id")
    assert message.at_mobiles == ()


def test_an_urgent_digest_is_followed_by_a_text_that_pings_by_mobile() -> None:
    channel = notifier(mobiles=("13800000000",))
    message = channel.digest([failing(1), progressing(2)], mentions=("+86-13900000000", "ou_not_a_mobile", "@all"))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(SEND, match=[matchers.json_params_matcher({"msgtype": "markdown"}, strict_match=False)], **OK)
        mock.post(SEND, match=[matchers.json_params_matcher({"msgtype": "text"}, strict_match=False)], **OK)
        channel.send(message)
        content = sent_json(mock, 0)["markdown"]["content"]
        ping = sent_json(mock, 1)
    assert content.startswith('#### <font color="warning">taskwatch: 2 changes, 1 failed</font>\n\n')
    assert "13800000000" not in content  # markdown cannot ping: no mention text in it
    assert ping == {
        "msgtype": "text",
        "text": {
            "content": "taskwatch: 1 urgent change in the digest above",
            "mentioned_mobile_list": ["13800000000", "+86-13900000000", "@all"],
        },
    }


@pytest.mark.parametrize(
    ("answers", "calls"),
    [
        ([{"json": {"errcode": -1, "errmsg": "busy"}}] * 2, 3),  # retried once, then given up
        ([{"json": {"errcode": 45009, "errmsg": "freq limit"}}], 2),  # a rate limit: no retry
    ],
)
def test_a_mention_that_fails_after_the_markdown_is_logged_not_raised(
    answers: list[dict[str, object]], calls: int
) -> None:
    """Raising would make the caller post the markdown, already in the chat, a second time."""
    channel = notifier(mobiles=("13800000000",))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock, log_lines() as lines:
        mock.post(SEND, **OK)
        for answer in answers:
            mock.post(SEND, **answer)
        channel.send(channel.digest([failing(1)]))
        assert len(mock.calls) == calls
    assert [line["event"] for line in lines] == ["mention_failed"] and lines[0]["level"] == "warning"


def test_a_mention_retried_after_a_busy_answer_is_sent_once_more() -> None:
    channel = notifier(mobiles=("13800000000",))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(SEND, **OK)
        mock.post(SEND, json={"errcode": -1, "errmsg": "busy"})
        mock.post(SEND, **OK)
        channel.send(channel.digest([failing(1)]))
        assert [sent_json(mock, i)["msgtype"] for i in range(3)] == ["markdown", "text", "text"]


def test_a_markdown_that_fails_raises_and_no_ping_is_sent() -> None:
    channel = notifier(mobiles=("13800000000",))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(SEND, json={"errcode": 93000, "errmsg": "invalid webhook url"})
        with pytest.raises(DeliveryError) as err:
            channel.send(channel.digest([failing(1)]))
        assert len(mock.calls) == 1
    assert err.value.retryable is False and err.value.code == 93000


@pytest.mark.parametrize(
    ("answers", "retryable", "rate_limited", "calls", "fragment"),
    [
        ([{"json": {"errcode": 45009, "errmsg": "api freq out of limit"}}], True, True, 1, "rate limit"),
        ([{"json": {"errcode": 40058, "errmsg": "content exceed max length"}}], False, False, 1, "too long"),
        ([{"json": {"errcode": 93000, "errmsg": "invalid webhook url"}}], False, False, 1, "key is invalid"),
        ([{"json": {"errcode": -1, "errmsg": "system busy"}}] * 2, True, False, 2, "errcode -1"),
        ([{"status": 502, "body": "bad gateway"}] * 2, True, False, 2, "HTTP 502"),
        ([{"status": 404, "body": "not found"}], False, False, 1, "HTTP 404"),
        ([{"body": "<html>"}] * 2, True, False, 2, "not its JSON"),
        ([{"body": requests.ConnectTimeout()}] * 2, True, False, 2, "timed out"),
    ],
)
def test_answers(
    answers: list[dict[str, object]], retryable: bool, rate_limited: bool, calls: int, fragment: str
) -> None:
    err, made = refusal(SEND, answers, lambda: notifier().send(Message("t", "x", ())))
    assert made == calls and err.retryable is retryable and err.rate_limited is rate_limited
    assert fragment in str(err)


def test_a_transient_failure_is_retried_once_after_the_backoff() -> None:
    slept: list[float] = []
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(SEND, status=503)
        mock.post(SEND, **OK)
        notifier(sleep=slept.append).send(Message("t", "x", ()))
    assert slept == [0.5]


def test_the_robot_key_echoed_in_an_answer_never_reaches_the_error() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(SEND, json={"errcode": 93000, "errmsg": f"invalid webhook url, key={KEY} hint: {KEY}"})
        with pytest.raises(DeliveryError) as err:
            notifier().send(Message("t", "x", ()))
    assert KEY not in str(err.value) and KEY[:12] not in str(err.value) and "errcode 93000" in str(err.value)


def test_three_hundred_failures_fit_the_budget_and_end_with_more() -> None:
    channel = notifier(mobiles=tuple(f"1380000{n:04d}" for n in range(40)))
    message = channel.digest([failing(n) for n in range(300)])
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(SEND, **OK)
        mock.post(SEND, **OK)
        channel.send(message)
        markdown, ping = sent_bytes(mock, 0), sent_json(mock, 1)
    assert len(markdown) <= MAX_BYTES
    assert len(json.loads(markdown)["markdown"]["content"].encode()) <= MAX_BYTES  # what WeCom counts
    shown = message.text.count("**app_")
    assert 0 < shown < 300
    assert message.text.endswith(f"… +{300 - shown} more (see GET /status or `taskwatch status`)")
    assert len(ping["text"]["mentioned_mobile_list"]) == 40


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(1, 300), mentions=st.integers(0, 50), error_text=st.text(max_size=300))
def test_the_markdown_body_never_exceeds_the_budget(count: int, mentions: int, error_text: str) -> None:
    mobiles = tuple(f"+86-{n:016d}" for n in range(mentions))
    message = notifier(mobiles=mobiles).digest([failing(n, error_text) for n in range(count)])
    assert len(wecom.body(message)) <= MAX_BYTES
    assert message.at_mobiles == mobiles


# --- the config file ------------------------------------------------------------------------------


def test_from_entry_reads_the_url_and_mobiles() -> None:
    options = wecom.from_entry(entry("wecom", URL, mention=("13800000000", "@all")))
    assert options == wecom.Options(webhook=URL, mobiles=("13800000000", "@all"))
    assert KEY in wecom.secrets(options) and KEY not in repr(options)
    assert KEY not in mask_url(URL) and KEY in url_secrets(URL)


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"url": None}, "channel[2].url", "is required"),
        ({"url": f"http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"}, "channel[2].url", "https://"),
        ({"url": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?token={KEY}"}, "channel[2].url", "key="),
        ({"url": URL, "secret": "SECsigning-secret-123"}, "channel[2].secret", "not signed"),
        ({"url": URL, "keyword": "taskwatch"}, "channel[2].keyword", "no keyword mode"),
        ({"url": URL, "mention": ("13800000000", "U123ABC")}, "channel[2].mention[1]", "mobile number"),
    ],
)
def test_from_entry_errors_name_the_key_and_mask_the_url(kwargs: dict[str, object], path: str, fragment: str) -> None:
    url = kwargs.pop("url")
    with pytest.raises(ConfigError) as err:
        wecom.from_entry(entry("wecom", url, **kwargs))  # type: ignore[arg-type]
    assert err.value.path == path and fragment in str(err.value)
    assert KEY not in str(err.value) and "SECsigning" not in str(err.value)
