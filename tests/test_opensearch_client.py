"""The OpenSearch adapter through the real aliyunsdkcore, with strict `responses` on its vendored requests."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from aliyunsdkcore.vendored.requests.exceptions import ConnectTimeout
from helpers.creds import AK_ID, AK_SECRET, PLAIN_AK_ID, STS_TOKEN
from helpers.fakes import SDK_TARGET
from responses import matchers

from taskwatch.model import FailureKind
from taskwatch.opensearch import (
    AuthFailed,
    BadAnswer,
    OpenSearchClient,
    TaskNotFound,
    TransientError,
)
from taskwatch.settings import Credentials, Endpoint, Target
from taskwatch.task_answers import parse_extend_info
from taskwatch_emulator.auth import roa_signature, roa_string_to_sign

BASE = "https://opensearch.cn-hangzhou.aliyuncs.com/v4/openapi/app-groups/my_app/functions/rec/instances/inst1/tasks"
TARGET = Target("my_app", "rec", "inst1", "1700000000")
RESULT = {"Generation": "1700000000", "Status": "running", "Progress": 42, "StartTime": 5, "EndTime": 0}


def client(token: str | None = STS_TOKEN) -> OpenSearchClient:
    creds = Credentials(AK_ID if token else PLAIN_AK_ID, AK_SECRET, token)
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


def test_list_tasks_reads_one_page_newest_first() -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(
            BASE,
            json={"RequestId": "r", "TotalCount": 2, "Result": [RESULT, {**RESULT, "Generation": "1699999999"}]},
            match=[matchers.query_param_matcher({"RegionId": "cn-hangzhou", "pageNumber": "2", "pageSize": "20"})],
        )
        mock.get(BASE, json={"RequestId": "r", "TotalCount": 0, "Result": []})
        assert [t.generation for t in client().list_tasks(TARGET, 2)] == ["1700000000", "1699999999"]
        assert client().list_tasks(TARGET) == []


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


# --- answers in every shape the docs and SDKs show ---------------------------------------------


def _camel(data: object) -> object:
    if isinstance(data, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in data.items()}
    return [_camel(v) for v in data] if isinstance(data, list) else data


@pytest.mark.parametrize("shape", ["pascal", "camel", "lower"])
def test_success_bodies_are_read_in_any_key_casing(shape: str) -> None:
    body: dict[str, object] = {"RequestId": "r", "Result": {**RESULT, "RunId": "run-1", "ExtendInfo": '{"auc": 0.9}'}}
    if shape == "camel":
        body = _camel(body)  # type: ignore[assignment]
    if shape == "lower":
        body = json.loads(json.dumps(body).lower())
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(f"{BASE}/1700000000", json=body)
        mock.get(BASE, json={**body, "Result": [body.get("Result") or body.get("result")]})
        task = client().get_task(TARGET, "1700000000")
        listed = client().list_tasks(TARGET)
    assert (task.generation, task.status, task.progress, task.metrics) == (
        "1700000000",
        "running",
        42,
        (("auc", "0.9"),),
    )
    assert listed == [task]


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (404, {"requestId": "r", "code": "Task.NotExist", "message": "gone"}, TaskNotFound, "Task.NotExist: gone"),
        (
            400,
            {"requestId": "r", "code": "SignatureDoesNotMatch", "message": "no. server string to sign is:GET\n..."},
            AuthFailed,
            "SignatureDoesNotMatch: no.",
        ),
        (403, {"requestid": "r", "code": "Forbidden.RAM", "message": "denied"}, AuthFailed, "Forbidden.RAM: denied"),
        (200, {"RequestId": "r", "Code": "Task.NotExist", "Message": "gone"}, TaskNotFound, "Task.NotExist: gone"),
        (200, {"requestId": "r", "code": "App.NotFound", "message": "no app", "result": None}, TaskNotFound, "App"),
        (200, {"RequestId": "r", "Code": "InvalidParameter", "Message": "bad"}, BadAnswer, "InvalidParameter: bad"),
        (200, {"RequestId": "r", "Code": "Forbidden.RAM", "Message": "denied"}, AuthFailed, "Forbidden.RAM"),
        (200, {"RequestId": "r", "HttpCode": 503, "Message": "busy"}, TransientError, "HTTP 503: busy"),
        (502, {"weird": True}, TransientError, "HTTP 502"),
    ],
)
def test_error_bodies_are_read_in_any_casing_and_in_a_200(
    status: int, body: dict[str, object], error: type[Exception], text: str
) -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=False) as mock:
        mock.get(f"{BASE}/1700000000", status=status, json=body)
        with pytest.raises(error) as raised:
            client().get_task(TARGET, "1700000000")
    assert str(raised.value).startswith(text)
    assert "string to sign" not in str(raised.value)


def test_success_codes_in_a_body_are_not_errors() -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        for code in ("", "OK", "Success", "200", 0, None):
            mock.get(f"{BASE}/1700000000", json={"RequestId": "r", "Code": code, "HttpCode": 200, "Result": RESULT})
        for _ in range(6):
            assert client().get_task(TARGET, "1700000000").progress == 42


@pytest.mark.parametrize(
    ("item", "identity"),
    [
        ({"Status": "running", "RunId": "abc-1", "StartTime": 1764000000000}, "run:abc-1"),
        ({"status": "success", "startTime": 1764000000000}, "start:1764000000000"),
        ({"Generation": 17, "Status": "running"}, "17"),
    ],
)
def test_list_items_without_a_generation_are_known_by_run_id_then_start_time(
    item: dict[str, object], identity: str
) -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(BASE, json={"RequestId": "r", "TotalCount": 1, "Result": [item]})
        assert [t.generation for t in client().list_tasks(TARGET)] == [identity]


def test_an_item_with_nothing_to_know_it_by_is_a_bad_answer() -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(BASE, json={"RequestId": "r", "Result": [{"Status": "running", "StartTime": 5}]})
        with pytest.raises(BadAnswer, match="Generation"):
            client().list_tasks(TARGET)


@pytest.mark.parametrize(
    "raw",
    [
        '{"RequestId": "r", "Result": {"Generation": "1", "Status": "running", "Progress": 1e400}}',
        '{"RequestId": "r", "Result": {"Generation": "1", "Status": "running", "Progress": NaN}}',
        '{"RequestId": "r", "Result": {"Generation": "1", "Status": "running", "Progress": 1' + "0" * 400 + "}}",
        '{"RequestId": "r", "Result": {"Generation": "1", "Status": "running", "EndTime": -Infinity}}',
        '{"RequestId": "r", "Result": ' + "[" * 50_000 + "]" * 50_000 + "}",
        '{"RequestId": "r", "Result": {"Generation": "1", "Status": "running", "ExtendInfo": "'
        + "[" * 50_000
        + "]" * 50_000
        + '"}}',
    ],
)
def test_values_no_computation_survives_are_a_bad_answer(raw: str) -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        mock.get(f"{BASE}/1", body=raw, content_type="application/json")
        with pytest.raises(BadAnswer):
            client().get_task(Target("my_app", "rec", "inst1", "1"), "1")


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (1_764_000_000_000, 1_764_000_000_000),
        ("1764000000000", 1_764_000_000_000),
        (1_764_000_000, 0),  # seconds
        (1_764_000_000_000_000, 0),  # microseconds
        (-1, 0),
        (0, 0),
        (True, 0),
        ("later", 0),
        (4_200_000_000_000, 0),  # after 2100
    ],
)
def test_times_outside_2000_to_2100_are_unknown(value: object, ms: int) -> None:
    from taskwatch.task_answers import parse_time

    assert parse_time(value) == ms


def test_a_refused_connection_says_so() -> None:
    creds = Credentials(AK_ID, AK_SECRET, STS_TOKEN)
    reader = OpenSearchClient(Endpoint("http", "127.0.0.1:9"), "cn-hangzhou", creds, sleep=lambda _: None)
    with pytest.raises(TransientError) as err:
        reader.get_task(TARGET, "1700000000")
    assert "Connection refused" in str(err.value) and "127.0.0.1:9" in str(err.value)
    assert len(str(err.value)) <= 320


def test_progress_may_come_as_text_with_a_percent_sign() -> None:
    with responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=True) as mock:
        body = {"requestId": "r", "result": {"generation": "1700000000", "status": "running", "progress": "45%"}}
        mock.get(f"{BASE}/1700000000", json=body)
        task = client().get_task(TARGET, "1700000000")
    assert (task.generation, task.progress) == ("1700000000", 45)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"Generation": 1.7e9}, "1700000000"),
        ({"Generation": "  17 "}, "  17 "),
        ({"Generation": 17, "StartTime": "2026-11-19T08:00:00Z"}, "17"),
    ],
)
def test_generations_and_iso_times_are_read_as_written(fields: dict[str, object], expected: str) -> None:
    from taskwatch.task_answers import parse_task

    task = parse_task({"Status": "running", **fields})
    assert task.generation == expected
    if "StartTime" in fields:
        assert task.start_time == 1_795_075_200_000
