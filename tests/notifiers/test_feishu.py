"""Feishu: the card, its signature, mentions and keyword, the 20,000-byte budget, the answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

import pytest
import requests
import responses
from helpers.changes import failing, progressing
from helpers.chat import entry, refusal, sent_bytes, sent_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from responses import matchers

from taskwatch.config import ConfigError
from taskwatch.digest import Message
from taskwatch.notifiers import feishu
from taskwatch.notifiers._http import Poster
from taskwatch.notifiers.feishu import MAX_BYTES, FeishuNotifier
from taskwatch.ports import DeliveryError
from taskwatch.redact import mask_url, url_secrets

TOKEN = "2f9d3c1e-feishu-hook-token-77aa"
URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"
SECRET = "feishuSignSecret0a9b8c7d"
OK = {"json": {"code": 0, "data": {}, "msg": "success"}}
OPEN_ID = "ou_7d8a6e6df7621556ce0d21922b676706"


def expected_sign(timestamp: int, secret: str) -> str:
    """Feishu's rule, written from its description: the key is "{timestamp}\\n{secret}", the message empty."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, digestmod=hashlib.sha256).digest()).decode()


def notifier(
    secret: str | None = None,
    *,
    mentions: tuple[str, ...] = (),
    keyword: str | None = None,
    sleep: Callable[[float], None] = lambda _: None,
) -> FeishuNotifier:
    """The client ``feishu.build`` makes, with a fixed clock and no wait before the retry."""
    options = feishu.Options(URL, secret, mentions=mentions, keyword=keyword)
    http = Poster("Feishu", feishu.secrets(options), sleep=sleep)
    return FeishuNotifier(options, http, clock=lambda: 1_700_000_000.9)


def test_sign_matches_an_independent_computation() -> None:
    assert feishu.sign(SECRET, 1_700_000_000) == expected_sign(1_700_000_000, SECRET)
    assert feishu.sign(SECRET, 1_700_000_000) != feishu.sign(SECRET, 1_700_000_001)


def test_a_signed_card_is_posted_as_feishu_wants_it() -> None:
    message = notifier().digest([progressing(1)])
    expected = {
        "timestamp": "1700000000",
        "sign": expected_sign(1_700_000_000, SECRET),
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": "taskwatch: 1 change"}, "template": "blue"},
            "elements": [
                {
                    "tag": "div",
                    "text": {
                        "tag": "lark_md",
                        "content": "**app/fn/inst1@latest** · gen 1\n- 🏃 progress: passed **50%**\n"
                        "- progress: █████░░░░░ 50%",
                    },
                }
            ],
        },
    }
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(
            URL,
            match=[
                matchers.json_params_matcher(expected),
                matchers.header_matcher({"Content-Type": "application/json; charset=utf-8"}),
            ],
            **OK,
        )
        notifier(SECRET).send(message)


def test_an_unsigned_card_has_no_timestamp_and_a_failure_is_red() -> None:
    message = notifier().digest([failing(1)])
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, **OK)
        notifier().send(message)
        sent = sent_json(mock)
    assert "timestamp" not in sent and "sign" not in sent
    assert sent["card"]["header"]["template"] == "red"


def test_mentions_ping_as_at_tags_and_other_ids_are_left_out() -> None:
    channel = notifier(mentions=(OPEN_ID,))
    message = channel.digest([failing(1)], mentions=("ou_owner2", "13800000000", "U123ABC", "all", "ou_bad>tag"))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, **OK)
        channel.send(message)
        content = sent_json(mock)["card"]["elements"][0]["text"]["content"]
    assert content.endswith(f"<at id={OPEN_ID}></at> <at id=ou_owner2></at> <at id=all></at>")
    assert "13800000000" not in content and "U123ABC" not in content and "bad>" not in content
    calm = channel.digest([progressing(1)], mentions=("ou_owner2",))
    assert "<at" not in calm.text


def test_the_keyword_is_in_the_card_text_even_when_only_the_title_had_it() -> None:
    channel = notifier(keyword="taskwatch")
    message = channel.digest([progressing(1)])
    content = json.loads(feishu.body(message, "taskwatch"))["card"]["elements"][0]["text"]["content"]
    assert content.endswith("\n\ntaskwatch") and not content.startswith("####")
    assert notifier(keyword="训练").digest([progressing(1)]).text.endswith("训练")


@pytest.mark.parametrize(
    ("answers", "retryable", "rate_limited", "calls", "fragment"),
    [
        (
            [{"json": {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}}],
            False,
            False,
            1,
            "secret",
        ),
        ([{"json": {"code": 19024, "msg": "Key Words Not Found"}}], False, False, 1, "keyword"),
        ([{"json": {"code": 11232, "msg": "frequency limited"}}], True, True, 1, "rate limit"),
        ([{"status": 400, "json": {"code": 9499, "msg": "Bad Request"}}], False, False, 1, "bad request"),
        ([{"status": 502, "body": "bad gateway"}] * 2, True, False, 2, "HTTP 502"),
        ([{"status": 404, "body": "404 page not found"}], False, False, 1, "HTTP 404"),
        ([{"body": "<html>"}] * 2, True, False, 2, "not its JSON"),
        ([{"body": requests.ReadTimeout()}] * 2, True, False, 2, "timed out"),
        ([{"body": requests.ConnectionError()}] * 2, True, False, 2, "unreachable"),
    ],
)
def test_answers(
    answers: list[dict[str, object]], retryable: bool, rate_limited: bool, calls: int, fragment: str
) -> None:
    err, made = refusal(URL, answers, lambda: notifier(SECRET).send(Message("t", "x", ())))
    assert made == calls and err.retryable is retryable and err.rate_limited is rate_limited
    assert fragment in str(err) and str(err).startswith("Feishu")


def test_an_older_bot_answer_and_a_retry_after_a_5xx_succeed() -> None:
    slept: list[float] = []
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, status=500, body="oops")
        mock.post(URL, json={"Extra": None, "StatusCode": 0, "StatusMessage": "success"})
        notifier(SECRET, sleep=slept.append).send(Message("t", "x", ()))
    assert slept == [0.5]


def test_secrets_echoed_in_an_answer_never_reach_the_error() -> None:
    echo = f"sign match fail: secret {SECRET}, hook {URL}"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, json={"code": 19021, "msg": echo})
        with pytest.raises(DeliveryError) as err:
            notifier(SECRET).send(Message("t", "x", ()))
    text = str(err.value)
    assert SECRET not in text and TOKEN not in text and TOKEN[:12] not in text and "19021" in text


def test_three_hundred_failures_fit_under_20000_bytes_and_end_with_more() -> None:
    channel = notifier(SECRET, mentions=tuple(f"ou_{n:032d}" for n in range(40)), keyword="关键词")
    message = channel.digest([failing(n) for n in range(300)])
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, **OK)
        channel.send(message)
        sent = sent_bytes(mock)
    assert len(sent) < 20_000
    content = json.loads(sent)["card"]["elements"][0]["text"]["content"]
    shown = content.count("**app_")
    assert 0 < shown < 300 and f"… +{300 - shown} more" in content
    assert content.endswith("</at>\n\n关键词") and content.count("<at id=") == 40


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(1, 300),
    mentions=st.integers(0, 50),
    keyword=st.text(max_size=200),
    error_text=st.text(max_size=300),
    signed=st.booleans(),
)
def test_the_body_sent_never_exceeds_the_budget(
    count: int, mentions: int, keyword: str, error_text: str, signed: bool
) -> None:
    ids = tuple(f"ou_{n:032d}" for n in range(mentions))
    channel = notifier(SECRET if signed else None, mentions=ids, keyword=keyword or None)
    message = channel.digest([failing(n, error_text) for n in range(count)])
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(URL, **OK)
        channel.send(message)
        sent = sent_bytes(mock)
    assert len(sent) <= MAX_BYTES
    assert keyword in json.loads(sent)["card"]["elements"][0]["text"]["content"]


# --- the config file ------------------------------------------------------------------------------


def test_from_entry_reads_every_setting_and_the_hook_token_is_a_secret() -> None:
    options = feishu.from_entry(entry("feishu", URL, secret=SECRET, mention=(OPEN_ID, "all"), keyword="kw"))
    assert options == feishu.Options(webhook=URL, secret=SECRET, mentions=(OPEN_ID, "all"), keyword="kw")
    assert {SECRET, TOKEN} <= set(feishu.secrets(options)) and TOKEN not in repr(options)
    assert TOKEN not in mask_url(URL) and TOKEN in url_secrets(URL)
    assert feishu.from_entry(entry("feishu", URL)).secret is None  # signing is optional


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"url": None}, "channel[2].url", "is required"),
        ({"url": f"http://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"}, "channel[2].url", "https://"),
        ({"url": f"https://open.feishu.cn/open-apis/bot/v1/hook/{TOKEN}"}, "channel[2].url", "open.feishu.cn"),
        ({"url": URL, "mention": (OPEN_ID, "13800000000")}, "channel[2].mention[1]", "open id"),
    ],
)
def test_from_entry_errors_name_the_key_and_mask_the_url(kwargs: dict[str, object], path: str, fragment: str) -> None:
    url = kwargs.pop("url")
    with pytest.raises(ConfigError) as err:
        feishu.from_entry(entry("feishu", url, **kwargs))  # type: ignore[arg-type]
    assert err.value.path == path and fragment in str(err.value) and TOKEN not in str(err.value)
