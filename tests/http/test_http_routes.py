"""Every route and every error through FC's entry point `index.handler`, with FC 3.0 HTTP events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import responses
from helpers.creds import CREDENTIAL_ENV, HTTP_TOKEN
from helpers.fc import http_event, load_event
from twhttp import DINGTALK, LIST_URL, ROOT, TASK_URL, invoke, task

from taskwatch.fc import EventError

KEY = "app1/rec/inst1@1700"


def ok_task(mock: responses.RequestsMock, **kw: Any) -> None:
    mock.get(TASK_URL, json={"RequestId": "r", "Result": task(**kw)})


# --- the sample events ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("http-healthz.json", 200),
        ("http-status.json", 200),
        ("http-status-no-auth.json", 401),
        ("http-status-delete.json", 405),
        ("http-unknown-path.json", 404),
        ("http-malformed-context.json", 400),
        ("http-doc-sample.json", 401),  # FC's own sample: no bearer token
        ("http-fc3-template.json", 401),  # FC's API signature is not our bearer token
    ],
)
def test_sample_events(name: str, status: int) -> None:
    assert invoke(load_event(name)).status == status


@pytest.mark.parametrize(
    "name", ["http-check-dryrun.json", "http-check-dryrun-base64-body.json", "http-check-repeated-headers.json"]
)
def test_sample_dry_run_events(
    name: str, opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock, env: Path
) -> None:
    ok_task(opensearch)
    reply = invoke(load_event(name))
    assert reply.status == 200, reply.json
    assert reply.json["dryRun"] is True and reply.json["saved"] is False
    assert [c["sent"] for c in reply.json["changes"]] == [False]
    assert not (env / "state.json").exists() and not dingtalk.calls


def test_unknown_event_shapes_raise_a_clear_error() -> None:
    with pytest.raises(EventError, match="neither a timer event"):
        invoke(b'{"hello": "world"}')
    with pytest.raises(EventError, match="not UTF-8"):
        invoke(b"\xff\xfe")
    with pytest.raises(EventError, match="not JSON"):
        invoke(b"GET /healthz HTTP/1.1")


# --- /healthz -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token-but-who-cares"])
def test_healthz_needs_no_auth(token: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKWATCH_TARGETS")  # broken settings do not matter either
    for method in ("GET", "HEAD"):
        reply = invoke(http_event(method, "/healthz", token=token))
        assert (reply.status, reply.json) == (200, {"ok": True})
    reply = invoke(http_event("OPTIONS", "/healthz", token=None))
    assert reply.status == 200 and reply.headers["Allow"] == "GET, HEAD, OPTIONS"
    reply = invoke(http_event("POST", "/healthz", token=None))
    assert reply.status == 405 and reply.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_healthz_imports_no_sdk_and_calls_nothing() -> None:
    """In a fresh interpreter: no cloud SDK imported, no socket opened."""
    code = f"""
import json, socket, sys
sys.path.insert(0, {str(ROOT / "handler")!r})
def refuse(*a, **k): raise AssertionError("outbound connection")
socket.socket.connect = refuse
socket.create_connection = refuse
import index
ev = json.load(open({str(ROOT / "tests/events/http-healthz.json")!r}))
answer = index.handler(json.dumps(ev).encode(), None)
assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {{"ok": True}}, answer
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("aliyunsdkcore", "alibabacloud_oss_v2", "requests")
               or m in ("taskwatch.wiring", "taskwatch.tick", "taskwatch.stores", "taskwatch.settings"))
assert not heavy, heavy
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr


# --- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/status"), ("POST", "/check"), ("GET", "/nope"), ("DELETE", "/status"), ("OPTIONS", "/check")],
)
def test_no_token_configured_is_403_everywhere_but_healthz(
    method: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASKWATCH_HTTP_TOKEN")
    reply = invoke(http_event(method, path))
    assert reply.status == 403 and "TASKWATCH_HTTP_TOKEN" in reply.json["error"]


def test_too_short_token_fails_closed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TASKWATCH_HTTP_TOKEN", "short-token")
    assert invoke(http_event("GET", "/status", token="short-token")).status == 403
    assert '"variable": "TASKWATCH_HTTP_TOKEN"' in capsys.readouterr().err


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {HTTP_TOKEN[:-1]}"},
        {"Authorization": f"Bearer {HTTP_TOKEN}x"},
        {"Authorization": f"Basic {HTTP_TOKEN}"},
        {"Authorization": HTTP_TOKEN},
        {"X-Authorization": f"Bearer {HTTP_TOKEN}"},
        {"Authorization": "Bearer ä-not-ascii"},
    ],
)
@pytest.mark.parametrize(("method", "path"), [("GET", "/status"), ("GET", "/nope"), ("PUT", "/check")])
def test_missing_or_wrong_token_is_401_before_routing(headers: dict[str, str], method: str, path: str) -> None:
    reply = invoke(http_event(method, path, token=None, headers=headers))
    assert reply.status == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Allow" not in reply.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {HTTP_TOKEN}"},
        {"AUTHORIZATION": f"bearer {HTTP_TOKEN}"},
        {"aUtHoRiZaTiOn": f"BEARER   {HTTP_TOKEN} "},
        {"Authorization": f"Basic dXNlcg==,Bearer {HTTP_TOKEN}"},  # repeated header, comma-joined by FC
        {"Authorization": "Bearer wrong-one", "authorization": f"Bearer {HTTP_TOKEN}"},  # two spellings
    ],
)
def test_token_accepted_in_any_header_case_and_repeats(headers: dict[str, str]) -> None:
    reply = invoke(http_event("GET", "/status", token=None, headers=headers))
    assert reply.status == 200, reply.json


# --- routing ------------------------------------------------------------------------------------


def test_unknown_path_404_and_wrong_method_405() -> None:
    reply = invoke(http_event("GET", "/checks"))
    assert reply.status == 404 and "/checks" in reply.json["error"]
    for method, path, allow in [
        ("GET", "/check", "POST, OPTIONS"),
        ("HEAD", "/check", "POST, OPTIONS"),
        ("POST", "/status", "GET, HEAD, OPTIONS"),
        ("PATCH", "/status", "GET, HEAD, OPTIONS"),
    ]:
        reply = invoke(http_event(method, path))
        assert (reply.status, reply.headers["Allow"]) == (405, allow), (method, path)
    reply = invoke(http_event("OPTIONS", "/check"))
    assert (reply.status, reply.json, reply.headers["Allow"]) == (200, {"allow": ["POST", "OPTIONS"]}, "POST, OPTIONS")


def test_path_from_request_context_or_decoded_raw_path() -> None:
    ev = http_event("GET", "/status/")
    assert invoke(ev).status == 200  # one trailing slash is forgiven
    del ev["requestContext"]["http"]["path"]
    ev["rawPath"] = "/st%61tus"
    assert invoke(ev).status == 200
    ev["requestContext"]["http"]["path"] = "/nope"  # requestContext.http.path wins
    assert invoke(ev).status == 404


def test_the_decoded_request_context_path_is_not_decoded_again() -> None:
    ev = http_event("GET", "/status")
    ev["requestContext"]["http"]["path"] = "/st%61tus"  # FC decoded it already: a literal "%61"
    ev["rawPath"] = "/st%2561tus"
    assert invoke(ev).status == 404
    ev["requestContext"]["http"]["path"] = "/status%2F"
    assert invoke(ev).status == 404


def test_serve_builds_the_event_as_fc_does() -> None:
    from taskwatch.serve import build_event

    ev = build_event("GET", "/st%61tus?x=1", [], b"", source_ip="127.0.0.1", protocol="HTTP/1.1")
    assert (ev["rawPath"], ev["requestContext"]["http"]["path"]) == ("/st%61tus", "/status")


# --- malformed events and bodies -> 400 ------------------------------------------------------------


def _mutate(path: str, value: Any) -> dict[str, Any]:
    ev = http_event("POST", "/check")
    *parents, last = path.split(".")
    node: dict[str, Any] = ev
    for part in parents:
        node = node[part]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return ev


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("requestContext", "nope"),
        ("requestContext", None),
        ("requestContext.http", KeyError),
        ("requestContext.http", ["POST", "/check"]),
        ("requestContext.http.method", KeyError),
        ("requestContext.http.method", 7),
        ("requestContext.http.method", " "),
        ("requestContext.http.path", 12),
        ("headers", ["Authorization", "x"]),
        ("headers", {"Authorization": 5}),
        ("queryParameters", "dryRun=true"),
        ("queryParameters", {"dryRun": True}),
        ("body", {"dryRun": True}),
        ("isBase64Encoded", "true"),
        ("body", "\ud800 lone surrogate"),
    ],
)
def test_malformed_event_is_400(path: str, value: Any) -> None:
    reply = invoke(_mutate(path, value))
    assert reply.status == 400 and reply.json["error"].startswith("malformed")


def test_no_path_at_all_is_400() -> None:
    ev = http_event("GET", "/status")
    del ev["requestContext"]["http"]["path"], ev["rawPath"]
    assert invoke(ev).status == 400


def test_bad_base64_body_is_400() -> None:
    ev = http_event("POST", "/check")
    ev["body"], ev["isBase64Encoded"] = "not base64!!", True
    reply = invoke(ev)
    assert reply.status == 400 and "base64" in reply.json["error"]


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ({"dryRun": "yes"}, ""),
        ({"dryRun": "true,false"}, ""),
        ({"dry": "true"}, ""),  # a mistyped flag must not become a real tick
        ({}, "dryRun=true"),
        ({}, "[true]"),
        ({}, '{"dryRun": "true"}'),
        ({}, '{"dry_run": true}'),
        ({"dryRun": "false"}, '{"dryRun": true}'),
        ({}, b"\xff\xfe{}"),
    ],
)
def test_bad_check_request_is_400_and_reads_nothing(query: dict[str, str], body: str | bytes) -> None:
    reply = invoke(http_event("POST", "/check", query=query, body=body))
    assert reply.status == 400, reply.json  # no mock registered: any outbound call would fail the test


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "path"),
    [
        ("TASKWATCH_TARGETS", "not-a-target", "/status"),
        ("TASKWATCH_STATE", None, "/status"),
        ("TASKWATCH_ERROR_TICKS", "0", "/check"),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", None, "/check"),
    ],
)
def test_bad_settings_are_a_500_naming_the_variable(
    variable: str, value: str | None, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    reply = invoke(http_event("GET" if path == "/status" else "POST", path))
    assert reply.status == 500 and reply.json["error"].startswith(f"bad setting {variable}"), reply.json
    assert invoke(http_event("GET", "/healthz")).status == 200


def test_status_needs_no_credentials_with_file_state(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name)
    assert invoke(http_event("GET", "/status")).status == 200


# --- /status and /check -----------------------------------------------------------------------------


def test_status_before_any_tick() -> None:
    reply = invoke(http_event("GET", "/status"))
    assert reply.status == 200
    assert reply.json["targets"] == {KEY: None} and reply.json["revision"] is None


def test_check_sends_then_status_shows_it(
    opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok_task(opensearch)
    dingtalk.post(DINGTALK, json={"errcode": 0, "errmsg": "ok"})
    reply = invoke(http_event("POST", "/check"))
    assert reply.status == 200, reply.json
    assert reply.json["saved"] is True and reply.json["sent"] == 1 and reply.json["dryRun"] is False
    assert [(c["target"], c["sent"]) for c in reply.json["changes"]] == [(KEY, True)]
    assert "warning" not in reply.json and len(dingtalk.calls) == 1

    again = invoke(http_event("POST", "/check"))  # nothing changed: nothing sent, nothing saved
    assert (again.status, again.json["changes"], again.json["saved"]) == (200, [], False)
    assert len(dingtalk.calls) == 1

    monkeypatch.setenv("TASKWATCH_TARGETS", "app1/rec/inst2, app1/rec/inst1@1700")
    status = invoke(http_event("GET", "/status"))
    assert status.status == 200 and status.json["revision"] >= 1
    assert list(status.json["targets"]) == ["app1/rec/inst2@latest", KEY]  # settings order
    assert status.json["targets"]["app1/rec/inst2@latest"] is None
    entry = status.json["targets"][KEY]
    assert (entry["status"], entry["progress"], entry["generation"]) == ("running", 30, "1700")
    head = invoke(http_event("HEAD", "/status"))
    assert (head.status, head.json) == (200, status.json)


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ({"dryRun": "true"}, ""),
        ({"dryRun": "1"}, ""),
        ({"dryrun": "TRUE"}, ""),
        ({"dryRun": ""}, ""),
        ({"dryRun": "true,1"}, ""),
        ({}, '{"dryRun": true}'),
        ({"dryRun": "true"}, b'{"dryRun": true}'),
    ],
)
def test_dry_run_sends_and_saves_nothing(
    query: dict[str, str],
    body: str | bytes,
    opensearch: responses.RequestsMock,
    dingtalk: responses.RequestsMock,
    env: Path,
) -> None:
    ok_task(opensearch, status="success", progress=100)
    reply = invoke(http_event("POST", "/check", query=query, body=body))
    assert reply.status == 200, reply.json
    assert reply.json["dryRun"] is True and reply.json["saved"] is False and reply.json["sent"] == 0
    assert len(reply.json["changes"]) == 1 and not reply.json["changes"][0]["sent"]
    assert not dingtalk.calls and not env.exists()


def test_dry_run_false_is_a_real_tick(opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock) -> None:
    ok_task(opensearch)
    dingtalk.post(DINGTALK, json={"errcode": 0, "errmsg": "ok"})
    reply = invoke(http_event("POST", "/check", query={"dryRun": "false"}, body='{"dryRun": false}'))
    assert reply.status == 200 and reply.json["sent"] == 1


def test_check_undelivered_is_502_with_the_changes(
    opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock, env: Path
) -> None:
    ok_task(opensearch)
    dingtalk.post(DINGTALK, json={"errcode": 310000, "errmsg": "sign not match"})
    reply = invoke(http_event("POST", "/check"))
    assert reply.status == 502
    assert "delivery failed" in reply.json["error"] and reply.json["sent"] == 0
    assert [c["sent"] for c in reply.json["changes"]] == [False]
    saved = json.loads((env / "state.json").read_text())  # the change waits in the channel's outbox
    assert [c["kind"] for c in saved["channels"]["dingtalk"]["pending"]] == ["watching"]


def test_check_with_unreadable_target_is_200_with_a_warning(
    opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKWATCH_TARGETS", "app1/rec/inst1@1700 app1/rec/inst2")
    ok_task(opensearch)
    opensearch.get(LIST_URL, status=500, json={"RequestId": "r", "Code": "InternalError", "Message": "boom"})
    dingtalk.post(DINGTALK, json={"errcode": 0, "errmsg": "ok"})
    reply = invoke(http_event("POST", "/check"))
    assert reply.status == 200, reply.json
    assert list(reply.json["readFailures"]) == ["app1/rec/inst2@latest"]
    assert "could not be read" in reply.json["warning"]


def test_status_with_unreadable_state_is_502(env: Path) -> None:
    env.mkdir()
    (env / "state.json").mkdir()  # a directory where the object should be: the store cannot read it
    reply = invoke(http_event("GET", "/status"))
    assert reply.status == 502 and "state" in reply.json["error"], reply.json


def test_corrupt_state_reads_as_none_and_writes_nothing(env: Path) -> None:
    env.mkdir()
    (env / "state.json").write_text("{not json")
    reply = invoke(http_event("GET", "/status"))
    assert reply.status == 200 and reply.json["revision"] is None
    assert [p.name for p in env.iterdir()] == ["state.json"]  # not copied aside: a status read writes nothing


def test_answer_shape_is_fc3() -> None:
    raw = invoke(http_event("GET", "/healthz")).raw
    assert raw == {
        "statusCode": 200,
        "isBase64Encoded": False,
        "body": '{"ok": true}',
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
    }
    assert json.loads(raw["body"]) == {"ok": True}


def test_status_shows_a_running_targets_estimated_end(env: Path) -> None:
    from taskwatch.model import State, TargetState

    now = int(time.time() * 1000)
    history = ((now - 20 * 60_000, 20.0), (now - 10 * 60_000, 40.0))  # 2 % a minute: 100 % 30 min after 40 %
    entry = TargetState(rev=1, generation="1700", status="running", progress=40, history=history)
    env.mkdir(parents=True, exist_ok=True)
    (env / "state.json").write_text(json.dumps(State(revision=1, targets={KEY: entry}).to_json()))
    shown = invoke(http_event("GET", "/status")).json["targets"][KEY]
    assert abs(shown["etaMs"] - (now + 20 * 60_000)) < 2 * 60_000
    assert shown["history"] == [list(sample) for sample in history]
