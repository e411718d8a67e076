"""No secret (HTTP token, webhook token, AK secret, STS token, DingTalk secret) in any answer or log line."""

from __future__ import annotations

import json
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
import responses
from helpers.creds import AK_SECRET, HTTP_TOKEN, STS_TOKEN, WEBHOOK_TOKEN
from helpers.fakes import SDK_TARGET
from helpers.fc import http_event
from test_http_serve import request
from twhttp import DINGTALK, SECRETS, TASK_URL, invoke, task


def assert_clean(text: str, where: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"{name} leaked into {where}: {text[:500]}"


def replies(*events: dict[str, Any]) -> str:
    return "\n".join(json.dumps(invoke(ev).raw) for ev in events)


def test_client_input_echoing_secrets_is_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    """Paths, methods and parameters carrying secrets are echoed in errors and logs: masked."""
    out = replies(
        http_event("GET", "/healthz", token=WEBHOOK_TOKEN),
        http_event("GET", "/status", token=None, headers={"Authorization": f"Bearer {HTTP_TOKEN[:-1]}"}),
        http_event("GET", f"/{HTTP_TOKEN}", token=HTTP_TOKEN),
        http_event("GET", f"/status?access_token={WEBHOOK_TOKEN}", token=HTTP_TOKEN),
        http_event(f"X{AK_SECRET}", "/status", token=HTTP_TOKEN),
        http_event("POST", "/check", query={STS_TOKEN: "1"}),
        http_event("POST", "/check", query={"dryRun": STS_TOKEN}),
        http_event("POST", "/check", body=json.dumps({"dryRun": AK_SECRET})),
        http_event("POST", f"/healthz/{WEBHOOK_TOKEN}", token=None),
    )
    assert out.count('"statusCode": 4') == 8
    assert_clean(out, "an answer")
    assert_clean(capsys.readouterr().err, "the log")


def test_bad_settings_are_scrubbed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DINGTALK_WEBHOOK", f"ftp://oapi.dingtalk.com/robot/send?access_token={WEBHOOK_TOKEN}")
    reply = invoke(http_event("GET", "/status"))
    assert reply.status == 500 and "DINGTALK_WEBHOOK" in reply.json["error"]
    monkeypatch.setenv("TASKWATCH_TARGETS", f"app/{STS_TOKEN}!/x")
    reply = invoke(http_event("POST", "/check"))
    assert reply.status == 500 and "TASKWATCH_TARGETS" in reply.json["error"]
    assert_clean(json.dumps(reply.raw), "a settings error")
    assert_clean(capsys.readouterr().err, "the log")


def test_cloud_errors_quoting_secrets_are_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    """Services that echo credentials in their error texts: the answers and logs still hide them."""
    leaky = f"denied: key secret {AK_SECRET} token {STS_TOKEN} robot {WEBHOOK_TOKEN}"
    with responses.RequestsMock(target=SDK_TARGET) as opensearch, responses.RequestsMock() as dingtalk:
        opensearch.get(TASK_URL, status=403, json={"RequestId": "r", "Code": "Forbidden.RAM", "Message": leaky})
        opensearch.get(TASK_URL, json={"RequestId": "r", "Result": task()})
        dingtalk.post(DINGTALK, json={"errcode": 310000, "errmsg": leaky})
        first = invoke(http_event("POST", "/check"))  # OpenSearch refuses: a read failure, listed, nothing to send
        second = invoke(http_event("POST", "/check"))  # read; DingTalk refuses the "now watching" digest: 502
        status = invoke(http_event("GET", "/status"))
    assert first.status == 200 and first.json["readFailures"], first.json
    assert second.status == 502, second.json
    assert status.status == 200
    for reply in (first, second, status):
        assert_clean(json.dumps(reply.raw), "an answer")
    assert_clean(capsys.readouterr().err, "the log")


def test_served_answers_are_scrubbed(server: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str]) -> None:
    texts = []
    for method, target in [
        ("GET", f"/{HTTP_TOKEN}?access_token={WEBHOOK_TOKEN}"),
        ("GET", f"/status?sign={AK_SECRET}"),
        ("POST", f"/check?{STS_TOKEN}=1"),
    ]:
        status, head, raw = request(server, method, target, {"Authorization": f"Bearer {HTTP_TOKEN}"})
        texts.append(f"{status} {dict(head)} {raw.decode()}")
    assert_clean("\n".join(texts), "a served answer")
    assert_clean(capsys.readouterr().err, "the log")


def test_a_502_from_check_hides_secrets_with_quotes_and_partial_tokens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """DingTalk refuses and echoes a `"`/`\\` signing secret and part of a long STS token: the 502
    body and the log hide both, raw and JSON-escaped."""
    quoted = 'SECq"uo\\te-dingtalk-secret-7'
    long_token = "CAIS" + "Ab3dE6gH9jK2mN5pQ8sT" * 50
    monkeypatch.setenv("DINGTALK_SECRET", quoted)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", long_token)
    with responses.RequestsMock(target=SDK_TARGET) as opensearch, responses.RequestsMock() as dingtalk:
        opensearch.get(TASK_URL, json={"RequestId": "r", "Result": task()})
        dingtalk.post(DINGTALK, json={"errcode": 310000, "errmsg": f"sign {quoted} for {long_token[30:150]}"})
        reply = invoke(http_event("POST", "/check"))
    assert reply.status == 502 and "310000" in reply.json["error"], reply.json
    log = capsys.readouterr().err
    for where, text in (("the 502 body", json.dumps(reply.raw)), ("the log", log)):
        assert quoted not in text and json.dumps(quoted)[1:-1] not in text, where
        for i in range(len(long_token) - 11):
            assert long_token[i : i + 12] not in text, where
