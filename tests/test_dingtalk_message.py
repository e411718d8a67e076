"""DingTalk signing against the published vector, the client's error handling, and the digest text."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import responses
from helpers.changes import change
from helpers.changes import failing as _failing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from responses import matchers

from taskwatch.digest import Message, progress_bar
from taskwatch.model import Change, ChangeKind
from taskwatch.notifiers._http import Poster
from taskwatch.notifiers.dingtalk import MAX_BYTES, DingTalkNotifier, Options, body, digest, payload, secrets, sign
from taskwatch.ports import DeliveryError

WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=tok123"


def robot(
    secret: str | None = None,
    *,
    webhook: str = WEBHOOK,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = lambda _: None,
    retries: int = 1,
) -> DingTalkNotifier:
    """The client ``dingtalk.build`` makes, with the test's clock, wait before the retry, and retries."""
    options = Options(webhook, secret)
    return DingTalkNotifier(options, Poster("DingTalk", secrets(options), sleep=sleep, retries=retries), clock=clock)


def test_sign_matches_the_published_vector() -> None:
    assert sign("this is secret", 1_700_000_000_000) == "sSFWELbV2YwjdDQhWZwTcWlX5BWUx5J6TPpsZmuPii0="


def test_signed_post_encodes_the_signature_once() -> None:
    message = Message("t", "hello", ())
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post(
            "https://oapi.dingtalk.com/robot/send",
            json={"errcode": 0, "errmsg": "ok"},
            match=[
                matchers.query_param_matcher(
                    {
                        "access_token": "tok123",
                        "timestamp": "1700000000000",
                        "sign": "sSFWELbV2YwjdDQhWZwTcWlX5BWUx5J6TPpsZmuPii0=",
                    }
                ),
                matchers.json_params_matcher(payload(message)),
                matchers.header_matcher({"Content-Type": "application/json; charset=utf-8"}),
            ],
        )
        robot("this is secret", clock=lambda: 1_700_000_000.0).send(message)
        assert "sign=sSFWELbV2YwjdDQhWZwTcWlX5BWUx5J6TPpsZmuPii0%3D" in mock.calls[0].request.url


@pytest.mark.parametrize(
    ("answers", "retryable", "calls", "fragment"),
    [
        ([{"json": {"errcode": 310000, "errmsg": "sign"}}], False, 1, "DINGTALK_SECRET"),
        ([{"json": {"errcode": 300001, "errmsg": "token"}}], False, 1, "DINGTALK_WEBHOOK"),
        ([{"json": {"errcode": 130101, "errmsg": "too fast"}}], True, 1, "rate limit"),
        ([{"json": {"errcode": -1, "errmsg": "busy"}}] * 2, True, 2, "errcode -1"),
        ([{"status": 502, "body": "bad gateway"}] * 2, True, 2, "HTTP 502"),
        ([{"body": "<html>"}] * 2, True, 2, "not its JSON"),
    ],
)
def test_failures(answers: list[dict[str, object]], retryable: bool, calls: int, fragment: str) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        for answer in answers:
            mock.post("https://oapi.dingtalk.com/robot/send", **answer)  # type: ignore[arg-type]
        with pytest.raises(DeliveryError) as err:
            robot().send(Message("t", "x", ()))
        assert len(mock.calls) == calls
    assert err.value.retryable is retryable and fragment in str(err.value)


def test_retry_then_success() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post("https://oapi.dingtalk.com/robot/send", json={"errcode": -1, "errmsg": "busy"})
        mock.post("https://oapi.dingtalk.com/robot/send", json={"errcode": 0, "errmsg": "ok"})
        slept: list[float] = []
        robot(sleep=slept.append).send(Message("t", "x", ()))
    assert len(slept) == 1 and slept[0] <= 0.5


def render(changes: list[Change], *, at_mobiles: tuple[str, ...] = (), keyword: str | None = None) -> Message:
    """The digest as the DingTalk channel renders it (its budget, mention style and keyword)."""
    return digest(changes, at_mobiles, keyword)


def test_digest_mentions_only_for_urgent_changes() -> None:
    calm = render([change(ChangeKind.PROGRESS, progress=50, detail="50")], at_mobiles=("138",))
    assert calm.at_mobiles == () and "@138" not in calm.text
    urgent = render([change(ChangeKind.STATUS, old_status="running", new_status="failed")], at_mobiles=("138",))
    assert urgent.at_mobiles == ("138",) and urgent.text.endswith("@138")
    stalled = render([change(ChangeKind.STALLED, detail="no progress for 61 min")], at_mobiles=("138",))
    assert stalled.at_mobiles == ("138",)


def test_keyword_is_always_in_the_text() -> None:
    assert render([change(ChangeKind.WATCHING)], keyword="训练").text.endswith("训练")
    assert render([change(ChangeKind.WATCHING)], keyword="taskwatch").text.count("taskwatch") == 1


def test_huge_digest_is_cut_with_more_marker() -> None:
    changes = [
        change(ChangeKind.STATUS, target=f"app/fn/inst{i}@latest", new_status="failed", errors=("e" * 250,))
        for i in range(300)
    ]
    message = render(changes)
    size = len(json.dumps(payload(message), ensure_ascii=False).encode())
    assert size < MAX_BYTES
    assert "more (see GET /status" in message.text
    shown = message.text.count("**app/fn/inst")
    assert f"+{300 - shown} more" in message.text


def test_progress_bar() -> None:
    assert progress_bar(0) == "░░░░░░░░░░ 0%"
    assert progress_bar(55) == "██████░░░░ 55%"
    assert progress_bar(100) == "██████████ 100%"


def test_log_lines_survive_lone_surrogates() -> None:
    import io
    import json as json_

    from taskwatch import logs

    stream = io.StringIO()
    logs.setup(stream)
    try:
        logs.event("odd", path="/x\udcff")
    finally:
        logs.setup()
    line = json_.loads(stream.getvalue())
    assert line["event"] == "odd" and line["path"] == "/x\udcff"


# --- the whole body stays within DingTalk's 20,000 bytes ----------------------------------------


def _sent_body(message: Message) -> bytes:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.post("https://oapi.dingtalk.com/robot/send", json={"errcode": 0, "errmsg": "ok"})
        robot().send(message)
        body = mock.calls[0].request.body
    return body if isinstance(body, bytes) else str(body).encode()


def test_forty_mentions_and_two_hundred_failures_still_fit() -> None:
    mobiles = tuple(f"1380000{n:04d}" for n in range(40))
    message = render([_failing(n) for n in range(200)], at_mobiles=mobiles, keyword="taskwatch-alerts")
    body = _sent_body(message)
    assert len(body) <= MAX_BYTES
    text = json.loads(body)["markdown"]["text"]
    assert all(f"@{m}" in text for m in mobiles) and "taskwatch-alerts" in text and "more" in text
    assert json.loads(body)["at"]["atMobiles"] == list(mobiles)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(1, 500),
    mentions=st.integers(0, 50),
    keyword=st.text(min_size=0, max_size=200),
    error_text=st.text(min_size=0, max_size=300),
)
def test_the_body_sent_never_exceeds_the_limit(count: int, mentions: int, keyword: str, error_text: str) -> None:
    mobiles = tuple(f"+86-{n:016d}" for n in range(mentions))  # 20 characters each
    message = render([_failing(n, error_text) for n in range(count)], at_mobiles=mobiles, keyword=keyword or None)
    body = _sent_body(message)
    assert len(body) <= MAX_BYTES
    text = json.loads(body)["markdown"]["text"]
    assert (keyword or "") in text
    assert all(f"@{m}" in text for m in mobiles)


def test_the_budget_measures_exactly_the_body_the_notifier_sends() -> None:

    mobiles = tuple(f"+86-{n:016d}" for n in range(50))
    message = render([_failing(n, 'x "é" \\') for n in range(30)], at_mobiles=mobiles, keyword='关键词 "kw"')
    assert len(body(message)) == len(_sent_body(message))


def test_a_run_first_seen_finished_reads_new_to_its_status() -> None:
    first_seen = change(ChangeKind.STATUS, generation="9", old_status=None, new_status="failed", start_time=0)
    text = render([first_seen]).text
    assert "❌ new → **failed**" in text and "?" not in text
    assert "- started unknown, ended unknown" in text and "took" not in text


def test_unknown_times_never_raise() -> None:
    from taskwatch.digest import format_time

    assert format_time(0) == format_time(-5) == format_time(9 * 10**18) == "unknown"
    ended = change(
        ChangeKind.STATUS, old_status="running", new_status="success", start_time=0, end_time=1_795_046_700_000
    )
    assert "- started unknown, ended 2026-11-19 00:05 UTC\n" in render([ended]).text + "\n"


def test_many_short_blocks_fill_the_budget_without_gaps() -> None:
    """The cut keeps every block that fits: one more would overflow the body."""
    mobiles = tuple(f"1380000{n:04d}" for n in range(40))
    errors = [change(ChangeKind.ERROR, f"app/fn/inst{n}@latest", detail=f"auth: denied {n}") for n in range(5_000)]
    message = render(errors, at_mobiles=mobiles, keyword="kw")
    shown = message.text.count("- ⚠️")
    assert 0 < shown < 5_000 and f"… +{5_000 - shown} more" in message.text
    assert len(_sent_body(message)) <= MAX_BYTES
    # The same digest with one block more (and one fewer in "+N more") would be over the limit.
    from taskwatch.digest import render_group

    def more(count: int) -> str:
        return f"… +{count} more (see GET /status or `taskwatch status`)"

    assert message.text.count(more(5_000 - shown)) == 1
    longer = message.text.replace(more(5_000 - shown), f"{render_group([errors[shown]])}\n\n{more(4_999 - shown)}")
    assert len(body(Message(message.title, longer, message.at_mobiles))) > MAX_BYTES


def test_the_emulated_robot_measures_the_whole_body_as_the_real_one() -> None:
    """A text under 20,000 bytes whose body is over it (mentions, escaping) is refused with 460101."""
    from taskwatch_emulator import Emulator

    mobiles = tuple(f"+86-{n:016d}" for n in range(50))
    with Emulator(dingtalk_token="robot-token-123456") as emu:
        notifier = robot(webhook=emu.dingtalk_webhook, retries=0)
        quotes = Message("t", '"' * 10_000 + "x" * 500, ())  # 10,500 bytes of text, 20,500 escaped
        with_mentions = Message("t", "x" * 19_000, mobiles)  # the atMobiles list adds over 1,000 bytes
        for message in (quotes, with_mentions):
            assert len(message.text.encode()) < MAX_BYTES < len(body(message))
            with pytest.raises(DeliveryError) as err:
                notifier.send(message)
            assert err.value.code == 460101
        failures = [_failing(n, '"é" \\') for n in range(200)]
        notifier.send(render(failures, at_mobiles=mobiles, keyword="taskwatch"))  # the digest is cut to fit
        assert len(emu.dingtalk.messages) == 1
