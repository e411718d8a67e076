"""The real service's other shapes and hostile values, end to end against the emulator.

Answer casing (PascalCase and camelCase), errors carried by an HTTP 200, list items without a
Generation, several runs between two ticks, poisoned values in one target's answer, corrupt state
and claim objects, an OSS answer that arrives too late. Each test drives `index.handler` over real
HTTP to the loopback emulator.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from alibabacloud_oss_v2 import defaults as oss_defaults
from conftest import BUCKET, Cloud
from helpers.creds import STS_TOKEN
from helpers.fc import Context, http_event
from test_e2e_promises import delivered, kinds, watch

import index
from taskwatch.model import Change, ChangeKind
from taskwatch_emulator import Step
from taskwatch_emulator.timeline import RawJson

APP, FN = "search_app", "ranker"
pytestmark = pytest.mark.parametrize("cloud", ["py312"], indirect=True)


@pytest.fixture(autouse=True)
def no_oss_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oss_defaults, "DEFAULT_BASE_DELAY_S", 0.001)


def key(instance: str) -> str:
    return f"{APP}/{FN}/{instance}@latest"


# --- casing and errors in a 200 --------------------------------------------------------------


@pytest.mark.parametrize("errors_as_200", [False, True])
def test_camel_case_answers_are_read_like_pascal_case_ones(cloud: Cloud, errors_as_200: bool) -> None:
    cloud.emu.opensearch.key_style = "camel"
    cloud.emu.opensearch.errors_as_200 = errors_as_200
    watch(cloud, f"{APP}/{FN}/main,{APP}/{FN}/gone@5")
    task = cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])

    first = cloud.tick()

    assert kinds(first) == ["watching", "not_found"]
    assert [f.split(":")[0] for f in first["readFailures"].values()] == ["not_found"]
    task.steps = [Step("success", 100, {"recall": 93})]
    assert kinds(cloud.tick()) == ["status"]
    assert "running → **success**" in cloud.texts()[-1] and "recall=93" in cloud.texts()[-1]


def test_an_error_code_in_a_200_is_that_error(cloud: Cloud) -> None:
    cloud.emu.opensearch.errors_as_200 = True
    watch(cloud, f"{APP}/{FN}/main@9")

    answer = cloud.tick()

    assert kinds(answer) == ["not_found"]
    assert cloud.state()["targets"][f"{APP}/{FN}/main@9"]["notFound"] is True


# --- list items without a Generation, several runs between ticks ------------------------------


def test_list_items_without_generation_are_known_by_run_id(cloud: Cloud) -> None:
    watch(cloud, f"{APP}/{FN}/main")
    task = cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)], omit=("Generation",))

    assert kinds(cloud.tick()) == ["watching"]
    task.steps = [Step("failed", 60, {"errors": ["OOM"]})]
    answer = cloud.tick()

    assert kinds(answer) == ["status"]
    assert answer["changes"][0]["generation"] == "run:run-7"
    assert "running → **failed**" in cloud.texts()[-1] and "errors: OOM" in cloud.texts()[-1]
    assert cloud.emu.opensearch.count("/tasks/") == 0  # never asked for a generation it does not have
    assert kinds(cloud.tick()) == []


def test_every_run_since_the_last_tick_is_told_oldest_first(cloud: Cloud) -> None:
    watch(cloud, f"{APP}/{FN}/main")
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.tick()
    cloud.emu.opensearch.set_task(APP, FN, "main", 7, "success", 100)
    cloud.clock.advance(60)
    cloud.emu.opensearch.add_task(APP, FN, "main", 8, [Step("failed", 30, {"errors": ["bad input"]})])
    cloud.clock.advance(60)
    cloud.emu.opensearch.add_task(APP, FN, "main", 9, [Step("running", 5)])
    cloud.emu.opensearch.reset_calls()

    answer = cloud.tick()

    told = [(c["generation"], c["kind"], c["status"]) for c in answer["changes"]]
    assert told == [
        ("7", "status", "success"),
        ("8", "new_run", "failed"),
        ("8", "status", "failed"),
        ("9", "new_run", "running"),
    ]
    assert cloud.emu.opensearch.count() == 1  # one page held them all
    assert "@13800000000" in cloud.texts()[-1]  # the failed run in between is urgent
    assert kinds(cloud.tick()) == []


# --- one target's poison does not hurt another ------------------------------------------------

IMPLAUSIBLE_TIMES = [
    pytest.param({"StartTime": 1_795_000_000_000_000}, id="microseconds"),
    pytest.param({"StartTime": 1_795_000_000}, id="seconds"),
    pytest.param({"StartTime": -5}, id="negative"),
    pytest.param({"StartTime": 0}, id="zero"),
    pytest.param({"StartTime": "soon"}, id="text"),
    pytest.param({"StartTime": 9 * 10**18}, id="huge"),
]
BAD_VALUES = [
    pytest.param({"EndTime": RawJson("1e400")}, id="end-1e400"),
    pytest.param({"Progress": RawJson("1" + "0" * 400)}, id="progress-10e400"),
    pytest.param({"Progress": RawJson("NaN")}, id="progress-nan"),
    pytest.param({"Progress": RawJson("-Infinity")}, id="progress-infinity"),
    pytest.param({"ExtendInfo": "[" * 50_000 + "]" * 50_000}, id="extendinfo-50000-deep"),
    pytest.param({"ExtendInfo": '{"recall": 1e999}'}, id="extendinfo-1e999"),
    pytest.param({"Extra": json.loads("[" * 40 + "]" * 40)}, id="answer-40-deep"),
]


def _block(text: str, target: str) -> str:
    return next(part for part in text.split("\n\n") if part.startswith(f"**{target}**"))


@pytest.mark.parametrize("fields", IMPLAUSIBLE_TIMES)
def test_an_implausible_time_is_shown_as_unknown(cloud: Cloud, fields: dict[str, Any]) -> None:
    watch(cloud, f"{APP}/{FN}/bad,{APP}/{FN}/good")
    bad = cloud.emu.opensearch.add_task(APP, FN, "bad", 7, [Step("running", 10)], fields=fields)
    cloud.emu.opensearch.add_task(APP, FN, "good", 3, [Step("running", 10)])

    assert kinds(cloud.tick()) == ["watching", "watching"]
    bad.steps = [Step("success", 100)]
    answer = cloud.tick()

    assert kinds(answer) == ["status"] and answer["readFailures"] == {}
    block = _block(cloud.texts()[-1], key("bad"))
    assert "started unknown" in block and "took" not in block
    assert cloud.state()["targets"][key("bad")]["startTime"] == 0


@pytest.mark.parametrize("fields", BAD_VALUES)
def test_a_poisoned_answer_never_costs_another_target_its_change(cloud: Cloud, fields: dict[str, Any]) -> None:
    watch(cloud, f"{APP}/{FN}/bad,{APP}/{FN}/good", TASKWATCH_ERROR_TICKS="1")
    cloud.emu.opensearch.add_task(APP, FN, "bad", 7, [Step("running", 10)], fields=fields)
    cloud.emu.opensearch.add_task(APP, FN, "good", 3, [Step("success", 100, {"recall": 91})])

    with pytest.raises(RuntimeError) as err:  # the bad target is reported as unreadable ...
        cloud.tick()

    assert "could not be read" in str(err.value) and key("bad") in str(err.value)
    assert "invalid" in str(err.value)
    told = delivered(cloud.texts())  # ... and the good one is delivered and recorded all the same
    assert (key("good"), "3", "watching", "") in told and (key("bad"), None, "error", "") in told
    state = cloud.state()["targets"]
    assert state[key("good")]["status"] == "success"
    assert state[key("bad")]["errorCount"] == 1


# --- corrupt state and claims -----------------------------------------------------------------

CORRUPT_STATES = [
    pytest.param(b'{"format":1,"revision":1e999,"targets":{}}', id="revision-1e999"),
    pytest.param(b'{"format":1,"revision":Infinity,"targets":{}}', id="revision-infinity"),
    pytest.param(b'{"format":1,"revision":1,"targets":' + b'{"a":' * 5000 + b"1" + b"}" * 5001, id="deep"),
    pytest.param(
        b'{"format":1,"revision":3,"targets":{"search_app/ranker/main@latest":{"rev":2,"generation":"7",'
        b'"status":"running","progress":NaN}}}',
        id="progress-nan",
    ),
    pytest.param(
        b'{"format":1,"revision":3,"targets":{"search_app/ranker/main@latest":{"rev":2,"generation":"7",'
        b'"status":"running","progress":40,"startTime":' + b"9" * 400 + b"}}}",
        id="start-10e400",
    ),
    pytest.param(b'{"format":1,"revision":-4,"targets":{}}', id="negative-revision"),
]


@pytest.mark.parametrize("raw", CORRUPT_STATES)
def test_corrupt_state_is_quarantined_and_status_still_answers(cloud: Cloud, raw: bytes) -> None:
    token = "status-token-0123456789"
    watch(cloud, f"{APP}/{FN}/main", TASKWATCH_HTTP_TOKEN=token)
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.emu.oss.put(BUCKET, "tw/state.json", raw)

    status = index.handler(json.dumps(http_event("GET", "/status", token=token)).encode(), Context(request_id="status"))
    assert status["statusCode"] == 200
    assert json.loads(status["body"])["targets"] == {key("main"): None}

    assert kinds(cloud.tick()) == ["watching"]
    assert any(name.startswith("tw/corrupt/") for name in cloud.objects())
    assert cloud.state()["revision"] > 0
    assert kinds(cloud.tick()) == []


@pytest.mark.parametrize(
    "claim",
    [
        b'{"status":"sending","expires":1e999}',
        b'{"status":"sending","expires":NaN}',
        b'{"status":"sending","expires":' + b"9" * 30 + b"}",
        b'{"status":"sending","expires":' + str(10**15).encode() + b"}",  # far beyond any live tick's
        b'{"status":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"\xff\xfe not json",
    ],
)
def test_an_unreadable_claim_never_blocks_its_change(cloud: Cloud, claim: bytes) -> None:
    watch(cloud, f"{APP}/{FN}/main")
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    first = Change(key("main"), ChangeKind.WATCHING, 0, "7:running")
    cloud.emu.oss.put(BUCKET, f"tw/claims/dingtalk/{first.id}", claim)

    answer = cloud.tick()

    assert [(c["kind"], c["sent"]) for c in answer["changes"]] == [("watching", True)]
    assert answer["changes"][0]["id"] == first.id
    assert len(cloud.texts()) == 1


# --- an OSS answer that comes too late -----------------------------------------------------------


def test_a_claim_whose_answer_came_late_is_still_ours(cloud: Cloud) -> None:
    watch(cloud, f"{APP}/{FN}/main")
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    # The create-only PUT lands, its answer is lost; the SDK's retry then gets 409 FileAlreadyExists.
    cloud.emu.oss.inject("late", times=1, path="/claims/", method="PUT", seconds=0.4)

    answer = cloud.tick()

    assert [(c["kind"], c["sent"]) for c in answer["changes"]] == [("watching", True)]
    assert len(cloud.texts()) == 1
    claims = [json.loads(cloud.emu.oss.objects[(BUCKET, k)]) for k in cloud.objects("tw/claims/")]
    assert [c["status"] for c in claims] == ["sent"]


def test_a_credential_echoed_by_the_service_is_masked_in_state_and_answers(cloud: Cloud) -> None:
    watch(cloud, f"{APP}/{FN}/main", TASKWATCH_ERROR_TICKS="1")
    cloud.emu.opensearch.inject(
        "status", times=None, status=403, code="Forbidden.RAM", message=f"denied for credential {STS_TOKEN}"
    )

    with pytest.raises(RuntimeError) as err:
        cloud.tick()

    raw_state = cloud.emu.oss.objects[(BUCKET, "tw/state.json")].decode()
    assert "Forbidden.RAM" in raw_state and STS_TOKEN not in raw_state
    assert STS_TOKEN not in str(err.value)
    assert cloud.texts() and all(STS_TOKEN[:12] not in text for text in cloud.texts())
