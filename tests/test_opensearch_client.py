"""The OpenSearch adapter through the real aliyunsdkcore, with strict `responses` on its vendored requests."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from aliyunsdkcore.vendored.requests.exceptions import ConnectTimeout
from responses import matchers
from support import AK_ID, AK_SECRET, STS_TOKEN

from taskwatch.model import FailureKind
from taskwatch.opensearch import (
    AuthFailed,
    BadAnswer,
    OpenSearchClient,
    TaskNotFound,
    TransientError,
    parse_extend_info,
)
from taskwatch.settings import Credentials, Endpoint, Target
from taskwatch_emulator.auth import roa_signature, roa_string_to_sign

SDK_TARGET = "aliyunsdkcore.vendored.requests.adapters.HTTPAdapter.send"
BASE = "https://opensearch.cn-hangzhou.aliyuncs.com/v4/openapi/app-groups/my_app/functions/rec/instances/inst1/tasks"
TARGET = Target("my_app", "rec", "inst1", "1700000000")
RESULT = {"Generation": "1700000000", "Status": "running", "Progress": 42, "StartTime": 5, "EndTime": 0}


def client(token: str | None = STS_TOKEN) -> OpenSearchClient:
    creds = Credentials(AK_ID if token else "LTAIplainkey", AK_SECRET, token)
    return OpenSearchClient(
        Endpoint("https", "opensearch.cn-hangzhou.aliyuncs.com"), "cn-hangzhou", creds, sleep=lambda _: None
    )


def test_get_task_sends_a_valid_roa_signature_with_the_sts_token() -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(
            f"{BASE}/1700000000",
            json={"RequestId": "r", "Result": {**RESULT, "ExtendInfo": '{"recall": 91, "errors": []}'}},
            match=[
                matchers.query_param_matcher({"RegionId": "cn-hangzhou"}),
                matchers.header_matcher(
                    {"x-acs-security-token": STS_TOKEN, "x-acs-version": "2017-12-25", "Accept": "application/json"}
                ),
            ],
        )
        task = client().get_task(TARGET, "1700000000")
        request = mock.calls[0].request

    assert (task.generation, task.status, task.progress, task.metrics) == (
        "1700000000",
        "running",
        42,
        (("recall", "91"),),
    )
    parts = urlsplit(request.url)
    expected = roa_signature(
        AK_SECRET, roa_string_to_sign("GET", parts.path, dict(parse_qsl(parts.query)), dict(request.headers))
    )
    assert request.headers["Authorization"] == f"acs {AK_ID}:{expected}"


def test_latest_task_lists_one_newest_first() -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(
            BASE,
            json={"RequestId": "r", "TotalCount": 2, "Result": [RESULT]},
            match=[matchers.query_param_matcher({"RegionId": "cn-hangzhou", "pageNumber": "1", "pageSize": "1"})],
        )
        mock.get(BASE, json={"RequestId": "r", "TotalCount": 0, "Result": []})
        assert client().latest_task(TARGET) is not None
        assert client().latest_task(TARGET) is None


def test_plain_access_key_sends_no_token() -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(f"{BASE}/1700000000", json={"RequestId": "r", "Result": RESULT})
        client(token=None).get_task(TARGET, "1700000000")
        assert "x-acs-security-token" not in mock.calls[0].request.headers


@pytest.mark.parametrize(
    ("answers", "error", "calls"),
    [
        ([(404, {"Code": "Task.NotExist", "Message": "no such task", "RequestId": "r"})], TaskNotFound, 1),
        ([(403, {"Code": "Forbidden.RAM", "Message": "denied", "RequestId": "r"})], AuthFailed, 1),
        ([(400, {"Code": "InvalidAccessKeyId.NotFound", "Message": "who?", "RequestId": "r"})], AuthFailed, 1),
        ([(503, {"Code": "ServiceUnavailable", "Message": "later", "RequestId": "r"})] * 2, TransientError, 2),
        ([(400, {"Code": "Throttling.User", "Message": "slow down", "RequestId": "r"})] * 2, TransientError, 2),
        ([(400, {"Code": "InvalidParameter", "Message": "what", "RequestId": "r"})], BadAnswer, 1),
    ],
)
def test_errors_are_typed_and_only_transient_ones_retried(
    answers: list[tuple[int, dict[str, str]]], error: type[Exception], calls: int
) -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        for status, body in answers:
            mock.get(f"{BASE}/1700000000", status=status, json=body)
        with pytest.raises(error):
            client().get_task(TARGET, "1700000000")
        assert len(mock.calls) == calls


def test_transient_then_success_and_timeouts() -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(f"{BASE}/1700000000", status=500, json={"Code": "InternalError", "Message": "x", "RequestId": "r"})
        mock.get(f"{BASE}/1700000000", json={"RequestId": "r", "Result": RESULT})
        assert client().get_task(TARGET, "1700000000").progress == 42
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(f"{BASE}/1700000000", body=ConnectTimeout("slow"))
        mock.get(f"{BASE}/1700000000", body=ConnectTimeout("slow"))
        with pytest.raises(TransientError) as err:
            client().get_task(TARGET, "1700000000")
        assert err.value.kind == FailureKind.TRANSIENT and "SDK.HttpError" in str(err.value)


def test_malformed_answers_are_transient_or_bad() -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(f"{BASE}/1700000000", body="<html>oops")
        mock.get(f"{BASE}/1700000000", body="<html>oops")
        with pytest.raises(TransientError):
            client().get_task(TARGET, "1700000000")
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(f"{BASE}/1700000000", json={"RequestId": "r", "Result": {"Status": "running"}})
        with pytest.raises(BadAnswer, match="Generation"):
            client().get_task(TARGET, "1700000000")


@pytest.mark.parametrize(
    ("raw", "metrics", "errors", "problem"),
    [
        ('{"recall": 91, "errors": ["a", {"b": 1}]}', (("recall", "91"),), ("a", '{"b": 1}'), None),
        ("", (), (), None),
        (None, (), (), None),
        ("{broken", (), (), "ExtendInfo is not JSON"),
        ("[1, 2]", (), (), "ExtendInfo is not a JSON object"),
        ('{"errors": "one"}', (), ("one",), None),
        (json.dumps({"nested": {"x": 1}, "ok": True}), (("ok", "true"),), (), None),
    ],
)
def test_extend_info_is_parsed_safely(raw: object, metrics: object, errors: object, problem: str | None) -> None:
    got_metrics, got_errors, got_problem = parse_extend_info(raw)
    assert (got_metrics, got_errors) == (metrics, errors)
    assert (got_problem or "").startswith(problem or "")
