"""The fault matrix: every outside call x every fault -> a clean failure or the designed degradation,
and once the faults stop, every change is delivered exactly once.

Operations: OpenSearch GetFunctionTask and ListFunctionTasks, OSS GET / PUT / DELETE, DingTalk POST.
Faults: timeout, connection refused, HTTP 5xx, HTTP 4xx, malformed body (HTTP 200 with a body that is
not the service's). "Refused" is a closed port for one tick where the operation has its own setting
(OpenSearch, the OSS state read, DingTalk); OSS PUT and DELETE share the OSS endpoint with the state
read, so there the connection is reset (RST) instead.

A DELETE happens when a send fails and the tick releases its claims: in the DELETE row DingTalk
refuses the digest in the same tick, so the claims stay "sending" and are taken over when they expire.

The figures go to `.cache/fault-matrix.json` and to the terminal (also without `-s`).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_oss_v2 import defaults as oss_defaults
from conftest import BUCKET, Cloud, report_figures
from test_e2e_promises import delivered

from taskwatch_emulator import Step

APP, FN = "search_app", "ranker"
MAIN = f"{APP}/{FN}/main@latest"  # ListFunctionTasks, then GetFunctionTask of the generation it knew
FIXED = f"{APP}/{FN}/fixed@42"  # GetFunctionTask only

OPERATIONS = ["opensearch-get", "opensearch-list", "oss-get", "oss-put", "oss-delete", "dingtalk-post"]
FAULTS = ["timeout", "refused", "5xx", "4xx", "malformed"]
# Where a fault is injected: (service, path filter, method).
WHERE: dict[str, tuple[str, str | None, str | None]] = {
    "opensearch-get": ("opensearch", "/tasks/", None),  # both targets' GetFunctionTask
    "opensearch-list": ("opensearch", "/instances/main/", None),  # the list fails first, so no Get follows
    "oss-get": ("oss", None, "GET"),
    "oss-put": ("oss", None, "PUT"),
    "oss-delete": ("oss", None, "DELETE"),
    "dingtalk-post": ("dingtalk", None, None),
}
FOUR_XX = {"opensearch": (403, "Forbidden"), "oss": (403, "AccessDenied"), "dingtalk": (403, "Forbidden")}
# Settings a closed port goes into for a truly refused connection.
REFUSED_SETTING = {
    "opensearch-get": "TASKWATCH_OPENSEARCH_ENDPOINT",
    "opensearch-list": "TASKWATCH_OPENSEARCH_ENDPOINT",
    "oss-get": "TASKWATCH_OSS_ENDPOINT",
    "dingtalk-post": "DINGTALK_WEBHOOK",
}
# The changes scripted between the first tick and the faulty one; each must be told exactly once.
EXPECTED = [
    (MAIN, "7", "status", "success"),  # generation 7 finished between two ticks ...
    (MAIN, "8", "new_run", ""),  # ... and generation 8 started
    (FIXED, "42", "progress", "75"),  # 50 % -> 80 %
]

RESULTS: dict[str, dict[str, Any]] = {}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fault(cloud: Cloud, operation: str, fault: str) -> None:
    service, path, method = WHERE[operation]
    where: dict[str, Any] = {"path": path, "method": method}
    svc = getattr(cloud.emu, service)
    if operation == "oss-delete":
        cloud.emu.dingtalk.inject("errcode", times=None, errcode=-1)  # the send fails: claims are released
    if fault == "refused":
        if operation in REFUSED_SETTING:
            variable = REFUSED_SETTING[operation]
            url = f"http://127.0.0.1:{closed_port()}"
            if variable == "DINGTALK_WEBHOOK":
                url += "/robot/send?access_token=" + cloud.emu.dingtalk.access_token
            cloud.monkeypatch.setenv(variable, url)
        else:
            svc.inject("reset", times=None, **where)
    elif fault == "timeout":
        svc.inject("timeout", times=None, seconds=0.2, **where)
    elif fault == "5xx":
        svc.inject("status", times=None, status=503, **where)
    elif fault == "4xx":
        status, code = FOUR_XX[service]
        svc.inject("status", times=None, status=status, code=code, **where)
    else:
        svc.inject("malformed", times=None, **where)


def stop_faults(cloud: Cloud) -> None:
    for svc in (cloud.emu.opensearch, cloud.emu.oss, cloud.emu.dingtalk):
        svc.faults.clear()
    cloud.monkeypatch.setenv("TASKWATCH_OPENSEARCH_ENDPOINT", cloud.emu.opensearch_endpoint)
    cloud.monkeypatch.setenv("TASKWATCH_OSS_ENDPOINT", cloud.emu.oss_endpoint)
    cloud.monkeypatch.setenv("DINGTALK_WEBHOOK", cloud.emu.dingtalk_webhook)


@pytest.fixture(autouse=True)
def quick(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorter client timeouts than conftest's and no OSS SDK backoff: 30 cells stay fast."""
    cloud.use_timeouts(opensearch_read=0.1, chat_read=0.1, oss_readwrite=0.1)
    monkeypatch.setattr(oss_defaults, "DEFAULT_BASE_DELAY_S", 0.001)


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    cells = len(OPERATIONS) * len(FAULTS)
    passed = sum(1 for r in RESULTS.values() if r["ok"])
    outcomes: dict[str, int] = {}
    for r in RESULTS.values():
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    summary = {
        "cells": cells,
        "operations": OPERATIONS,
        "faults": FAULTS,
        "run": len(RESULTS),
        "passed": passed,
        "outcomes": outcomes,
        "command": ".venv/bin/pytest tests/e2e/test_e2e_fault_matrix.py",
        "results": RESULTS,
    }
    line = (
        f"fault matrix: {len(OPERATIONS)} operations x {len(FAULTS)} faults = {cells} cells, "
        f"{len(RESULTS)} run, {passed} passed (each change delivered exactly once); {outcomes}"
    )
    report_figures(request, "fault-matrix.json", summary, [line])


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_fault_cell(cloud: Cloud, operation: str, fault: str) -> None:
    cell = f"{operation} x {fault}"
    RESULTS[cell] = {"ok": False, "outcome": "error"}
    started = time.monotonic()
    cloud.monkeypatch.setenv("TASKWATCH_TARGETS", f"{APP}/{FN}/main, {FIXED}")
    os_ = cloud.emu.opensearch
    os_.add_task(APP, FN, "main", 7, [Step("running", 60)])
    fixed = os_.add_task(APP, FN, "fixed", 42, [Step("running", 50)])
    first = cloud.tick()
    assert [c["kind"] for c in first["changes"]] == ["watching", "watching"]
    os_.set_task(APP, FN, "main", 7, "success", 100)
    os_.add_task(APP, FN, "main", 8, [Step("running", 3)])
    fixed.steps = [Step("running", 80)]

    start_fault(cloud, operation, fault)
    cause = ""
    try:
        cloud.tick()
        outcome = "tick succeeded"
    except RuntimeError as err:
        cause = str(err)
        assert "\n" not in cause and "Traceback" not in cause and cause, cause
        outcome = "failed cleanly"
    during = delivered(cloud.texts()[1:])
    if during and outcome == "failed cleanly":
        outcome += "; the other target delivered"
    if operation == "oss-delete":
        assert cloud.emu.oss.count(method="DELETE") >= 3  # the release was tried, and failed
        claims = [json.loads(cloud.emu.oss.objects[(BUCKET, k)]) for k in cloud.objects("tw/claims/")]
        assert sum(1 for c in claims if c["status"] == "sending") == 3
        outcome += "; claims left sending, taken over after expiry"
    stop_faults(cloud)

    # Faults over: within 20 virtual minutes (twice the claim expiry) everything is delivered once.
    for _ in range(4):
        cloud.tick()
    told = delivered(cloud.texts()[1:])

    assert sorted(told) == sorted(EXPECTED), f"{cell}: {told}"
    assert len(set(told)) == len(told)
    state = cloud.state()["targets"]
    assert state[MAIN]["generation"] == "8" and state[FIXED]["progress"] == 80
    assert all(v["errorCount"] == 0 for v in state.values())
    cloud.emu.oss.reset_calls()
    assert cloud.tick()["changes"] == []
    assert {c.method for c in cloud.emu.oss.calls} == {"GET"}  # settled: an idle tick writes nothing
    RESULTS[cell] = {
        "ok": True,
        "outcome": outcome,
        "cause": cause,
        "deliveredDuringFault": len(during),
        "messages": len(cloud.texts()) - 1,
        "seconds": round(time.monotonic() - started, 2),
    }
