"""Ticks through the FC entry point (`index.handler(event_bytes, context)`, or the `fc.handle` it
runs, given a wiring without retry pauses) against faked services.

The real SDKs sign and send; `helpers.fakes.fake_cloud` answers like OpenSearch, OSS and DingTalk
and records every request, so these tests pin what each adapter sends (paths, headers, signatures,
bodies) and the exact text the team reads. The stories across many ticks against services that
check signatures run against the emulator in tests/e2e.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers.creds import (
    AK_ID,
    AK_SECRET,
    CREDENTIAL_ENV,
    DINGTALK_SECRET,
    STS_TOKEN,
    WEBHOOK_TOKEN,
    Credentials,
    cloud_env,
)
from helpers.env import set_env
from helpers.fakes import BUCKET, WEBHOOK, FakeCloud, fake_cloud, task
from helpers.fc import Context

import index
from taskwatch.fc import handle
from taskwatch.ports import Timeouts
from taskwatch.wiring import Wiring

A = "my_app/rec/inst1"
B = "my_app/rec/inst2"


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloud]:
    set_env(
        monkeypatch,
        TASKWATCH_TARGETS=f"{A}@1700, {B}",
        TASKWATCH_REGION="cn-hangzhou",
        TASKWATCH_STATE=f"oss://{BUCKET}/watch",
        TASKWATCH_OSS_ENDPOINT="https://oss-cn-hangzhou.aliyuncs.com",
        DINGTALK_WEBHOOK=WEBHOOK,
        DINGTALK_SECRET=DINGTALK_SECRET,
        DINGTALK_AT_MOBILES="13800000000",
        DINGTALK_KEYWORD="taskwatch",
        **cloud_env(),
    )
    with fake_cloud() as fake:
        fake.set_task(A, task("1700", "running", 10))
        fake.set_task(B, task("1800", "running", 40))
        yield fake


NO_PAUSES = Wiring(timeouts=Timeouts(opensearch_backoff=0, chat_backoff=0))


def tick(timer_event: bytes, context: Context | None = None) -> dict[str, object]:
    answer = handle(timer_event, context or Context(), NO_PAUSES)
    result: dict[str, object] = json.loads(answer)
    return result


def texts(cloud: FakeCloud) -> list[str]:
    return [m["markdown"]["text"] for m in cloud.messages]


def test_first_tick_sends_one_now_watching_digest(cloud: FakeCloud, timer_event: bytes) -> None:
    result = json.loads(index.handler(timer_event, Context()))  # what FC calls, as FC calls it

    assert [c["kind"] for c in result["changes"]] == ["watching", "watching"]  # type: ignore[index]
    assert len(cloud.messages) == 1
    text = texts(cloud)[0]
    assert f"**{A}@1700** · gen 1700" in text and f"**{B}@latest** · gen 1800" in text
    assert text.count("now watching: **running**") == 2
    assert "taskwatch" in text  # the robot's keyword
    assert cloud.messages[0]["at"] == {"atMobiles": [], "isAtAll": False}  # nothing urgent
    state = json.loads(cloud.objects["watch/state.json"])
    assert state["targets"][f"{A}@1700"]["status"] == "running"
    assert state["targets"][f"{B}@latest"]["generation"] == "1800"


def test_requests_are_signed_with_the_sts_token(cloud: FakeCloud, timer_event: bytes) -> None:
    tick(timer_event)

    paths = sorted(urlsplit(c.url).path + "?" + urlsplit(c.url).query for c in cloud.opensearch_calls)
    assert paths == [
        "/v4/openapi/app-groups/my_app/functions/rec/instances/inst1/tasks/1700?RegionId=cn-hangzhou",
        "/v4/openapi/app-groups/my_app/functions/rec/instances/inst2/tasks?pageNumber=1&pageSize=20&RegionId=cn-hangzhou",
    ]
    for call in cloud.opensearch_calls:
        assert call.url.startswith("https://opensearch.cn-hangzhou.aliyuncs.com/")
        assert call.headers["x-acs-security-token"] == STS_TOKEN
        assert call.headers["x-acs-version"] == "2017-12-25"
        assert call.headers["Authorization"].startswith(f"acs {AK_ID}:")
    for call in cloud.oss_calls:
        assert call.url.startswith(f"https://{BUCKET}.oss-cn-hangzhou.aliyuncs.com/watch/")
        assert call.headers["Authorization"].startswith(f"OSS4-HMAC-SHA256 Credential={AK_ID}/")
        assert call.headers["x-oss-security-token"] == STS_TOKEN
    claim_puts = [c for c in cloud.oss_calls if c.method == "PUT" and "/claims/" in c.url]
    # Both "now watching" changes are claimed by one create-only object, then marked sent in place.
    assert [c.headers.get("x-oss-forbid-overwrite") for c in claim_puts] == ["true", None]

    (call,) = cloud.dingtalk_calls
    query = parse_qs(urlsplit(call.url).query)
    assert query["access_token"] == [WEBHOOK_TOKEN]
    timestamp = query["timestamp"][0]
    expected = hmac.new(DINGTALK_SECRET.encode(), f"{timestamp}\n{DINGTALK_SECRET}".encode(), hashlib.sha256)
    assert query["sign"] == [base64.b64encode(expected.digest()).decode()]
    body = json.loads(call.body)
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == "taskwatch: 2 changes"


def test_running_to_success_reports_metrics_and_duration(cloud: FakeCloud, timer_event: bytes) -> None:
    tick(timer_event)
    start = 1_764_000_000_000
    cloud.set_task(
        A,
        task("1700", "success", 100, start=start, end=start + 5_400_000, extend_info='{"recall": 91.5, "ndcg": 0.42}'),
    )

    result = tick(timer_event)

    assert [(c["target"], c["kind"], c["oldStatus"], c["status"]) for c in result["changes"]] == [  # type: ignore[index]
        (f"{A}@1700", "status", "running", "success")
    ]
    text = texts(cloud)[1]
    assert "✅ running → **success**" in text
    assert "metrics: recall=91.5, ndcg=0.42" in text
    assert "took 1h 30m" in text and "progress: ██████████ 100%" in text
    assert cloud.messages[1]["at"]["atMobiles"] == []  # success pings nobody


def test_running_to_failed_reports_errors_and_mentions(cloud: FakeCloud, timer_event: bytes) -> None:
    tick(timer_event)
    cloud.set_task(B, task("1800", "failed", 40, end=1_764_000_600_000, extend_info='{"errors": ["OOM in worker 3"]}'))

    tick(timer_event)

    text = texts(cloud)[1]
    assert f"**{B}@latest** · gen 1800" in text
    assert "❌ running → **failed**" in text and "errors: OOM in worker 3" in text
    assert "@13800000000" in text  # DingTalk pings only when the text carries the mobile too
    assert cloud.messages[1]["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert cloud.messages[1]["markdown"]["title"] == "taskwatch: 1 change, 1 failed"


def test_progress_crossing_a_step_sends_one_message(cloud: FakeCloud, timer_event: bytes) -> None:
    tick(timer_event)
    cloud.set_task(A, task("1700", "running", 24))  # moved, no multiple of 25 crossed
    tick(timer_event)
    assert len(cloud.messages) == 1
    cloud.set_task(A, task("1700", "running", 80))  # crossed 25, 50 and 75: one message

    result = tick(timer_event)

    assert [c["kind"] for c in result["changes"]] == ["progress"]  # type: ignore[index]
    assert len(cloud.messages) == 2
    assert "passed **75%**" in texts(cloud)[1] and "████████░░ 80%" in texts(cloud)[1]


def test_failed_delivery_keeps_changes_pending_then_delivers_once(
    cloud: FakeCloud, timer_event: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    tick(timer_event)
    state_before = cloud.objects["watch/state.json"]
    cloud.set_task(A, task("1700", "failed", 10, extend_info='{"errors": ["bad data"]}'))
    cloud.dingtalk_answers = [{"errcode": -1, "errmsg": "busy"}, {"errcode": -1, "errmsg": "busy"}]

    with pytest.raises(RuntimeError) as failure:
        tick(timer_event)

    assert "delivery failed, 1 change(s) stay pending" in str(failure.value)
    assert "\n" not in str(failure.value)
    assert len(cloud.dingtalk_calls) == 3  # first tick, then one attempt and one retry
    # The state moves on, and the change waits in the channel's outbox for its next delivery.
    saved = json.loads(cloud.objects["watch/state.json"])
    assert cloud.objects["watch/state.json"] != state_before
    assert [c["kind"] for c in saved["channels"]["dingtalk"]["pending"]] == ["status"]
    assert not [
        k for k in cloud.objects if k.startswith("watch/claims/") and json.loads(cloud.objects[k])["status"] != "sent"
    ]
    assert '"event": "tick_failed"' in capsys.readouterr().err

    tick(timer_event)  # healthy again: the pending change goes out
    tick(timer_event)  # and only once

    assert len(cloud.messages) == 2
    assert "❌ running → **failed**" in texts(cloud)[1] and "bad data" in texts(cloud)[1]


def test_python310_context_credentials_win_over_aliyun_env_keys(
    cloud: FakeCloud, timer_event: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name)
    # The SDK would silently sign with these and drop the STS token.
    set_env(monkeypatch, ALIYUN_ACCESS_KEY_ID="LTAIwrongkey", ALIYUN_ACCESS_KEY_SECRET="wrongsecret")

    tick(timer_event, Context(credentials=Credentials(access_key_id="STS.fromcontext", security_token="ctx-token")))

    assert cloud.opensearch_calls
    for call in cloud.opensearch_calls:
        assert call.headers["Authorization"].startswith("acs STS.fromcontext:")
        assert call.headers["x-acs-security-token"] == "ctx-token"
    assert all(c.headers["x-oss-security-token"] == "ctx-token" for c in cloud.oss_calls)


def test_bad_extend_info_does_not_break_the_tick(cloud: FakeCloud, timer_event: bytes) -> None:
    cloud.set_task(A, task("1700", "running", 10, extend_info="{not json"))

    result = tick(timer_event)

    assert len(result["changes"]) == 2  # type: ignore[arg-type]
    assert len(cloud.messages) == 1


def test_bad_setting_stops_before_any_request(
    cloud: FakeCloud, timer_event: bytes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TASKWATCH_TARGETS", "my_app/rec/inst 1@x")

    with pytest.raises(ValueError, match="TASKWATCH_TARGETS"):
        tick(timer_event)

    assert not cloud.opensearch_calls and not cloud.oss_calls and not cloud.dingtalk_calls
    assert '"variable": "TASKWATCH_TARGETS"' in capsys.readouterr().err


def test_no_secret_reaches_the_logs(
    cloud: FakeCloud, timer_event: bytes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tick(timer_event)
    sts = "x-acs-security-token:" + STS_TOKEN
    signature_error = {
        "Code": "SignatureDoesNotMatch",
        "Message": f"Specified signature is not matched with our calculation. server string to sign is:GET\n{sts}\n/v4",
    }
    cloud.opensearch_faults = [(400, signature_error)] * 4  # both targets, each tried twice? no: auth is not retried
    with pytest.raises(RuntimeError, match="SignatureDoesNotMatch") as read_failure:
        tick(timer_event)
    cloud.opensearch_faults = []
    cloud.set_task(A, task("1700", "failed", 10))
    cloud.dingtalk_answers = [{"errcode": 310000, "errmsg": f"token {WEBHOOK_TOKEN} sign {DINGTALK_SECRET}"}]
    with pytest.raises(RuntimeError) as failure:
        tick(timer_event)
    monkeypatch.setenv("TASKWATCH_HTTP_TOKEN", "tok-sh0rt")
    with pytest.raises(ValueError):
        tick(timer_event)

    output = capsys.readouterr()
    # Auth errors are not retried; the run that just failed is compared with the runs before it,
    # which the state does not hold yet: one ListFunctionTasks call more.
    assert len(cloud.opensearch_calls) == 2 + 2 + 2 + 1
    logged = output.out + output.err + str(failure.value) + str(read_failure.value)
    assert '"event": "tick_failed"' in logged
    for secret in (AK_SECRET, STS_TOKEN, DINGTALK_SECRET, WEBHOOK_TOKEN, "tok-sh0rt"):
        assert secret not in logged, secret
    for line in output.err.splitlines():
        assert json.loads(line)["requestId"] == "req-0001"
