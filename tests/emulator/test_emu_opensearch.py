"""OpenSearch fake through the real aliyunsdkcore client (and raw requests for tampering)."""

from __future__ import annotations

import json
from email.utils import formatdate

import pytest
import requests
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from emu_clients import Acs
from helpers.creds import AK_ID, AK_SECRET, STS_TOKEN

from taskwatch_emulator import Emulator, ManualClock, Step, roa_signature, roa_string_to_sign

PATH = "/v4/openapi/app-groups/app/functions/rec/instances/inst1/tasks/42"


def server_error(exc: pytest.ExceptionInfo[ServerException]) -> tuple[int, str]:
    return exc.value.get_http_status(), exc.value.get_error_code()


def test_get_task_real_shape(emu: Emulator, acs: Acs) -> None:
    emu.opensearch.add_task("app", "rec", "inst1", 42, [Step("running", 35, {"recall": 91, "errors": []})])
    body = acs.get(42)
    assert body["Status"] == "OK" and body["HttpCode"] == 200 and body["RequestId"]
    r = body["Result"]
    assert r["Generation"] == "42" and r["FunctionName"] == "rec" and r["RunId"]
    assert (r["Status"], r["Progress"], r["EndTime"]) == ("running", 35, 0)
    assert isinstance(r["ExtendInfo"], str) and json.loads(r["ExtendInfo"]) == {"recall": 91, "errors": []}
    assert r["StartTime"] == pytest.approx(emu.clock() * 1000, abs=1000)
    assert emu.opensearch.count("/tasks/42") == 1
    call = emu.opensearch.calls[0]
    assert (call.method, call.path, call.query) == ("GET", PATH, {"RegionId": "cn-hangzhou"})


def test_task_not_exist_is_parsed_by_sdk(emu: Emulator, acs: Acs) -> None:
    with pytest.raises(ServerException) as exc:
        acs.get(1)
    assert server_error(exc) == (404, "Task.NotExist")
    assert exc.value.get_request_id()


def test_secret_off_by_one_char_is_signature_mismatch_not_index_error(emu: Emulator) -> None:
    emu.opensearch.add_task("app", "rec", "inst1", 42)
    with pytest.raises(ServerException) as exc:
        Acs(emu, secret=AK_SECRET[:-1] + "X").get(42)
    assert server_error(exc) == (400, "SignatureDoesNotMatch")
    assert "server string to sign is:GET\napplication/json\n" in exc.value.get_error_msg()


def _signed_headers(clock: ManualClock, query: dict[str, str | None]) -> dict[str, str]:
    headers = {
        "Accept": "application/json",
        "Date": formatdate(clock(), usegmt=True),
        "x-acs-region-id": "cn-hangzhou",
        "x-acs-security-token": STS_TOKEN,
        "x-acs-signature-method": "HMAC-SHA1",
        "x-acs-signature-version": "1.0",
        "x-acs-version": "2017-12-25",
    }
    sig = roa_signature(AK_SECRET, roa_string_to_sign("GET", PATH, query, headers))
    headers["Authorization"] = f"acs {AK_ID}:{sig}"
    return headers


def test_tampered_authorization_header_rejected(emu: Emulator, clock: ManualClock) -> None:
    emu.opensearch.add_task("app", "rec", "inst1", 42)
    query: dict[str, str | None] = {"RegionId": "cn-hangzhou", "pageSize": "10"}
    headers = _signed_headers(clock, query)
    url = emu.opensearch_endpoint + PATH + "?RegionId=cn-hangzhou&pageSize=10"
    assert requests.get(url, headers=headers, timeout=2).status_code == 200
    sig = headers["Authorization"]
    headers["Authorization"] = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    r = requests.get(url, headers=headers, timeout=2)
    assert r.status_code == 400 and r.json()["Code"] == "SignatureDoesNotMatch"
    assert r.json()["Message"].endswith("server string to sign is:" + roa_string_to_sign("GET", PATH, query, headers))


def test_unknown_access_key(emu: Emulator) -> None:
    with pytest.raises(ServerException) as exc:
        Acs(emu, ak="LTAInobody", token=None).get(1)
    assert server_error(exc) == (404, "InvalidAccessKeyId.NotFound")


def test_sts_key_requires_its_token(emu: Emulator) -> None:
    with pytest.raises(ServerException) as exc:
        Acs(emu, token=None).get(1)
    assert server_error(exc) == (400, "MissingSecurityToken")
    with pytest.raises(ServerException) as exc:
        Acs(emu, token="other-token").get(1)
    assert server_error(exc) == (400, "InvalidSecurityToken.Mismatch")


def test_date_skew_over_15_minutes_rejected(emu: Emulator, acs: Acs, clock: ManualClock) -> None:
    emu.opensearch.add_task("app", "rec", "inst1", 42)
    clock.advance(14 * 60)
    assert acs.get(42)["Result"]["Status"] == "running"
    clock.advance(2 * 60)
    with pytest.raises(ServerException) as exc:
        acs.get(42)
    assert server_error(exc) == (400, "InvalidTimeStamp.Expired")


def test_timeline_by_calls(emu: Emulator, acs: Acs) -> None:
    emu.opensearch.add_task(
        "app",
        "rec",
        "inst1",
        42,
        [
            Step("running", 10),
            Step("running", 50, after_calls=1),
            Step("failed", 70, {"errors": ["OOM"]}, after_calls=3),
        ],
    )
    seen = [acs.get(42)["Result"] for _ in range(5)]
    assert [(r["Status"], r["Progress"]) for r in seen] == [
        ("running", 10),
        ("running", 50),
        ("running", 50),
        ("failed", 70),
        ("failed", 70),
    ]
    assert seen[2]["EndTime"] == 0 and seen[3]["EndTime"] > 0 and seen[4]["EndTime"] == seen[3]["EndTime"]
    assert json.loads(seen[3]["ExtendInfo"]) == {"errors": ["OOM"]}


def test_timeline_by_clock(emu: Emulator, acs: Acs, clock: ManualClock) -> None:
    t0 = clock()
    emu.opensearch.add_task(
        "app",
        "rec",
        "inst1",
        42,
        [
            Step("running", 0),
            Step("running", 40, after_seconds=60),
            Step("success", 100, {"recall": 91}, after_seconds=300),
        ],
    )
    assert acs.get(42)["Result"]["Progress"] == 0
    clock.advance(61)
    assert acs.get(42)["Result"]["Progress"] == 40
    clock.advance(240)
    r = acs.get(42)["Result"]
    assert (r["Status"], r["Progress"]) == ("success", 100)
    assert r["EndTime"] == int((t0 + 300) * 1000)  # the scripted moment, not the read time
    assert r["StartTime"] == int(t0 * 1000)


def test_list_newest_first_with_paging(emu: Emulator, acs: Acs, clock: ManualClock) -> None:
    emu.opensearch.add_task("app", "rec", "inst1", 100, [Step("success", 100)])
    emu.opensearch.add_task("app", "rec", "inst1", 200, [Step("running", 5)], appear_after_seconds=30)
    emu.opensearch.add_task("app", "rec", "other", 999)
    first = acs.list()  # no pageSize: default 1
    assert first["TotalCount"] == 1 and [t["Generation"] for t in first["Result"]] == ["100"]
    clock.advance(30)  # a new run starts
    page1 = acs.list(pageSize="1", pageNumber="1")
    page2 = acs.list(pageSize="1", pageNumber="2")
    assert page1["TotalCount"] == 2
    assert [t["Generation"] for t in page1["Result"]] == ["200"]
    assert [t["Generation"] for t in page2["Result"]] == ["100"]
    assert [t["Generation"] for t in acs.list(pageSize="10", status="success")["Result"]] == ["100"]
    assert acs.list(inst="nothing-here")["Result"] == []


def test_generation_appears_after_calls(emu: Emulator, acs: Acs) -> None:
    emu.opensearch.add_task("app", "rec", "inst1", 1)
    emu.opensearch.add_task("app", "rec", "inst1", 2, appear_after_calls=2)
    assert [acs.list()["Result"][0]["Generation"] for _ in range(3)] == ["1", "1", "2"]


# --- faults, observed by the real client -------------------------------------------------


def test_fault_timeout_is_sdk_http_error(emu: Emulator) -> None:
    emu.opensearch.add_task("app", "rec", "inst1", 42)
    emu.opensearch.inject("timeout", seconds=0.3)
    with pytest.raises(ClientException) as exc:
        Acs(emu, timeout=0.1).get(42)
    assert exc.value.get_error_code() == "SDK.HttpError"
    assert Acs(emu, timeout=0.1).get(42)["Result"]["Generation"] == "42"  # used up


def test_fault_reset_is_sdk_http_error(emu: Emulator, acs: Acs) -> None:
    emu.opensearch.inject("reset")
    with pytest.raises(ClientException) as exc:
        acs.get(42)
    assert exc.value.get_error_code() == "SDK.HttpError"


@pytest.mark.parametrize(("status", "code"), [(503, "ServiceUnavailable"), (500, "InternalError"), (429, "Throttling")])
def test_fault_status(emu: Emulator, acs: Acs, status: int, code: str) -> None:
    emu.opensearch.inject("status", times=2, status=status)
    for _ in range(2):
        with pytest.raises(ServerException) as exc:
            acs.get(42)
        assert server_error(exc) == (status, code)
    with pytest.raises(ServerException) as exc:
        acs.get(42)
    assert server_error(exc) == (404, "Task.NotExist")
    assert emu.opensearch.count() == 3


def test_fault_malformed_body(emu: Emulator, acs: Acs) -> None:
    emu.opensearch.inject("malformed")
    with pytest.raises(ValueError):
        json.loads(acs.get_raw(42))


def test_fault_latency_and_path_filter(emu: Emulator, acs: Acs) -> None:
    emu.opensearch.add_task("app", "rec", "inst1", 42)
    emu.opensearch.add_task("app", "rec", "inst2", 42)
    emu.opensearch.inject("status", path="/instances/inst2/")
    emu.opensearch.inject("latency", seconds=0.1)
    assert acs.get(42, inst="inst1")["Result"]["Generation"] == "42"  # latency fault consumed here
    with pytest.raises(ServerException):
        acs.get(42, inst="inst2")
    assert emu.opensearch.faults.pending() == []
    assert emu.opensearch.count("/instances/inst2/") == 1


def test_constant_latency(emu: Emulator, acs: Acs) -> None:
    import time

    emu.opensearch.add_task("app", "rec", "inst1", 42)
    emu.opensearch.latency = 0.05
    t = time.perf_counter()
    acs.get(42)
    assert time.perf_counter() - t >= 0.05
