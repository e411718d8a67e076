"""The channel fault matrix: every channel type x every fault, with a healthy second channel.

Each cell configures two channels: the faulty one of the type under test and a healthy one of the
next type. A first clean tick delivers "now watching"; then the faulty platform fails for two
ticks while changes happen in each, and the fault is cleared. Every change must reach each channel
exactly once: the healthy one in the very tick it happens (a failing channel holds back no other),
the faulty one in one digest, oldest first, at the first tick after the fault. The state is
committed at every tick, and no claim of the faulty channel is left "sending".

Faults: timeout (no answer within the client's read timeout), reset (the connection is dropped
with a RST), 5xx, the platform's refusal (an answer code no retry fixes, or a 4xx), a malformed
answer (HTTP 200 with a body that is not the platform's), and the platform's rate limit (which is
never retried within the tick). A webhook receiver has no answer body to read: any 2xx is an
acceptance, so its malformed cell is a receiver that took the delivery and answered 200 with HTML,
and the delivery counts as done (a 2xx from something that did not take it cannot be told apart).

The figures go to `.cache/channel-fault-matrix.json` and to the terminal (also without `-s`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels import TYPES, Spec, Told, configure, digests, fake, fake_errors, forget_secrets, told
from conftest import BUCKET, Cloud, report_figures

from taskwatch_emulator import Step
from taskwatch_emulator.base import Request, Response

APP, FN = "search_app", "ranker"
MAIN = f"{APP}/{FN}/main@latest"
FIXED = f"{APP}/{FN}/fixed@42"
FAULTS = ["timeout", "reset", "5xx", "refusal", "malformed", "rate-limit"]
FAULTY_TICKS = 2  # fewer than error_ticks: no channel_failing alert changes the healthy channel's count
# Requests the faulty platform gets in one faulty tick: a transient failure is tried twice within the
# send; a refusal is not tried again; a rate limit never is (it lasts minutes).
REQUESTS = {"timeout": 2, "reset": 2, "5xx": 2, "refusal": 1, "malformed": 2, "rate-limit": 1}
WATCHING: list[Told] = [(MAIN, "7", "watching", ""), (FIXED, "42", "watching", "")]
FIRST: list[Told] = [(MAIN, "7", "status", "success"), (MAIN, "8", "new_run", "")]  # in the first faulty tick
SECOND: list[Told] = [(FIXED, "42", "progress", "75")]  # in the second

RESULTS: dict[str, dict[str, Any]] = {}


def refusal(cloud: Cloud, kind: str) -> None:
    """Each platform's "no": an answer code or HTTP status that says the request will not pass."""
    target = fake(cloud.emu, kind)
    if kind == "dingtalk":
        target.inject("errcode", times=None, errcode=310000)  # HTTP 200, security check failed
    elif kind == "wecom":
        target.inject("errcode", times=None, errcode=93000)  # HTTP 200, invalid webhook url
    elif kind == "feishu":
        target.inject("errcode", times=None, errcode=19021)  # HTTP 200, signature check failed
    elif kind == "lark":
        target.refusal_status = 400  # the same code, with HTTP 400: its body is read all the same
        target.inject("errcode", times=None, errcode=9499)
    elif kind == "slack":
        target.inject("errcode", times=None, message="invalid_token")  # HTTP 400 invalid_token
    else:
        target.inject("status", times=None, status=400, code="BadRequest")


def rate_limit(cloud: Cloud, kind: str) -> None:
    target = fake(cloud.emu, kind)
    codes = {"dingtalk": 130101, "wecom": 45009, "feishu": 11232, "lark": 11232}
    if kind in codes:
        target.inject("errcode", times=None, errcode=codes[kind])
    else:
        target.inject("status", times=None, status=429)  # Slack's 429 carries Retry-After


def start_fault(cloud: Cloud, kind: str, fault: str) -> None:
    target = fake(cloud.emu, kind)
    if fault == "timeout":
        target.inject("timeout", times=None, seconds=0.2)
    elif fault == "reset":
        target.inject("reset", times=None)
    elif fault == "5xx":
        target.inject("status", times=None, status=503)
    elif fault == "refusal":
        refusal(cloud, kind)
    elif fault == "rate-limit":
        rate_limit(cloud, kind)
    elif kind == "webhook":
        taken = type(target).handle.__get__(target)

        def garbled(req: Request) -> Response:
            answer: Response = taken(req)
            return Response(200, b"<html>upstream error</html>", "text/html") if answer.status < 300 else answer

        target.handle = garbled
    else:
        target.inject("malformed", times=None)


def stop_fault(cloud: Cloud, kind: str) -> None:
    target = fake(cloud.emu, kind)
    target.faults.clear()
    vars(target).pop("handle", None)
    if kind in ("feishu", "lark"):
        target.refusal_status = 200


@pytest.fixture(autouse=True)
def quick(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """A short chat read timeout (the timeout fault waits 0.2 s): 36 cells stay fast."""
    forget_secrets(monkeypatch)
    cloud.use_timeouts(chat_read=0.1)


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    cells = len(TYPES) * len(FAULTS)
    passed = sum(1 for r in RESULTS.values() if r["ok"])
    summary = {
        "cells": cells,
        "types": list(TYPES),
        "faults": FAULTS,
        "run": len(RESULTS),
        "passed": passed,
        "command": ".venv/bin/pytest tests/e2e/test_e2e_channel_faults.py",
        "results": RESULTS,
    }
    line = (
        f"channel fault matrix: {cells} cells, {passed} passed (each change delivered exactly once per channel); "
        f"{len(TYPES)} types x {len(FAULTS)} faults, {len(RESULTS)} run"
    )
    report_figures(request, "channel-fault-matrix.json", summary, [line])


def faulty_tick(cloud: Cloud, faulty: str, fault: str) -> str:
    """A tick during the fault: the faulty channel fails with a one-line cause naming it (unless a
    webhook receiver's 2xx took the delivery); returns the cause."""
    before = fake(cloud.emu, faulty).count(method="POST")
    try:
        cloud.tick()
        cause = ""
    except RuntimeError as err:
        cause = str(err)
        assert cause and "\n" not in cause and "Traceback" not in cause, cause
        assert f"delivery failed to {faulty}," in cause, cause
    requests = fake(cloud.emu, faulty).count(method="POST") - before
    accepted = faulty == "webhook" and fault == "malformed"
    assert requests == (1 if accepted else REQUESTS[fault]), (fault, requests)
    assert bool(cause) != accepted, cause
    if fault == "rate-limit":
        assert "rate limit" in cause, cause
    return cause


def owed(cloud: Cloud, name: str) -> dict[str, Any]:
    channels: dict[str, Any] = cloud.state().get("channels", {})
    return channels.get(name, {})


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("faulty", TYPES)
def test_channel_fault_cell(cloud: Cloud, tmp_path: Path, faulty: str, fault: str) -> None:
    cell = f"{faulty} x {fault}"
    RESULTS[cell] = {"ok": False}
    started = time.monotonic()
    healthy = TYPES[(TYPES.index(faulty) + 1) % len(TYPES)]
    configure(cloud, tmp_path / "taskwatch.toml", [Spec(faulty), Spec(healthy)], [], error_ticks=3)
    cloud.monkeypatch.setenv("TASKWATCH_TARGETS", f"{APP}/{FN}/main, {FIXED}")
    os_ = cloud.emu.opensearch
    os_.add_task(APP, FN, "main", 7, [Step("running", 60)])
    fixed = os_.add_task(APP, FN, "fixed", 42, [Step("running", 50)])
    cloud.tick()
    assert (
        [sorted(d) for d in told(cloud.emu, faulty)]
        == [sorted(d) for d in told(cloud.emu, healthy)]
        == [sorted(WATCHING)]
    )
    revision = cloud.state()["revision"]

    start_fault(cloud, faulty, fault)
    causes: list[str] = []
    for tick, script in enumerate([FIRST, SECOND][:FAULTY_TICKS]):
        if script is FIRST:
            os_.set_task(APP, FN, "main", 7, "success", 100)
            os_.add_task(APP, FN, "main", 8, [Step("running", 3)])
        else:
            fixed.steps = [Step("running", 80)]
        causes.append(faulty_tick(cloud, faulty, fault))
        # The healthy channel was not held back: it got this tick's changes in this tick.
        assert told(cloud.emu, healthy)[-1] == script, (cell, told(cloud.emu, healthy))
        # The state was committed: the targets moved on, the faulty channel's changes wait in it.
        state = cloud.state()
        assert state["revision"] > revision
        revision = state["revision"]
        assert state["targets"][MAIN]["generation"] == "8"
        if causes[-1]:
            assert len(owed(cloud, faulty)["pending"]) == len(FIRST) + len(SECOND) * tick
            assert owed(cloud, faulty)["failures"] == tick + 1
        assert owed(cloud, healthy) == {}
    assert cloud.state()["targets"][FIXED]["progress"] == 80
    stop_fault(cloud, faulty)

    cloud.tick()  # the faulty channel gets what it owes, oldest first, in one digest
    cloud.emu.oss.reset_calls()
    assert cloud.tick()["changes"] == []
    assert {c.method for c in cloud.emu.oss.calls} == {"GET"}  # settled: an idle tick writes nothing

    expected = [WATCHING, FIRST, SECOND]
    got = {kind: told(cloud.emu, kind) for kind in (faulty, healthy)}
    assert [sorted(d) for d in got[healthy][:1]] == [sorted(WATCHING)] and got[healthy][1:] == expected[1:], got
    if causes[0]:
        assert got[faulty][1:] == [FIRST + SECOND], got  # what it owed, oldest first, in one digest
    else:
        assert got[faulty][1:] == expected[1:], got
    for kind in (faulty, healthy):
        flat = [change for digest in got[kind] for change in digest]
        assert sorted(flat) == sorted(WATCHING + FIRST + SECOND) and len(set(flat)) == len(flat), (kind, flat)
    assert cloud.emu.webhook.duplicates == 0
    assert not fake_errors(cloud.emu)
    claims = {k: json.loads(cloud.emu.oss.objects[(BUCKET, k)]) for k in cloud.objects(f"tw/claims/{faulty}/")}
    assert claims and not [k for k, c in claims.items() if c["status"] == "sending"], claims
    assert owed(cloud, faulty) == {}
    RESULTS[cell] = {
        "ok": True,
        "healthy": healthy,
        "cause": causes[0],
        "requestsPerFaultyTick": 1 if not causes[0] else REQUESTS[fault],
        "faultyDigests": len(digests(cloud.emu, faulty)),
        "seconds": round(time.monotonic() - started, 2),
    }
