"""The `taskwatch` command against the loopback emulator, with file state as a local user has it."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.creds import AK_SECRET, HTTP_TOKEN, PLAIN_AK_ID

from taskwatch import cli
from taskwatch.cli import main
from taskwatch_emulator import Emulator, Step

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(access_key_id=PLAIN_AK_ID, access_key_secret=AK_SECRET) as emulator:
        emulator.opensearch.add_task("app", "fn", "inst", 5, [Step("running", 40)])
        env = emulator.env()
        env.pop("DINGTALK_WEBHOOK")  # a local user without a robot: the digest prints
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("TASKWATCH_TARGETS", "app/fn/inst")
        monkeypatch.setenv("TASKWATCH_STATE", f"file://{tmp_path / 'state'}")
        yield emulator


def test_dry_run_prints_and_saves_nothing(emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "(dry run: nothing sent, nothing saved)" in out and "now watching: **running**" in out
    assert not (tmp_path / "state").exists()


def test_check_then_status(emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 0
    printed = capsys.readouterr()
    state = f"file://{tmp_path / 'state'}"
    channels = {"console": {"type": "console", "pending": 0, "dropped": 0, "failures": 0, "lastError": None}}
    assert json.loads(printed.out) == {
        "targets": {"app/fn/inst@latest": None},
        "revision": None,
        "state": state,
        "channels": channels,
    }
    assert "no state yet" in printed.err

    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "----- taskwatch: 1 change -----" in out and "1 change(s), 1 sent, state saved" in out

    assert main(["check"]) == 0
    assert "0 change(s), 0 sent, state unchanged" in capsys.readouterr().out

    assert main(["status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert set(status) == {"targets", "revision", "state", "channels"} and status["revision"] >= 1
    assert status["targets"]["app/fn/inst@latest"]["progress"] == 40
    assert (tmp_path / "state" / "state.json").exists()


def test_unreadable_target_exits_1(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    emu.opensearch.inject("status", times=None, status=503)
    assert main(["check"]) == 1
    assert "could not be read" in capsys.readouterr().err


def test_bad_setting_exits_2_and_names_it(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TASKWATCH_ERROR_TICKS", "zero")
    assert main(["check"]) == 2
    assert "bad setting TASKWATCH_ERROR_TICKS: 'zero' must be a whole number" in capsys.readouterr().err
    assert emu.opensearch.count() == 0


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for command in ("check", "status", "demo", "serve", "policy"):
        assert command in out
    assert main([]) == 2


def test_status_answers_what_get_status_answers(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from taskwatch.fc import handle
    from taskwatch.serve import LocalContext, build_event

    monkeypatch.setenv("TASKWATCH_TARGETS", "app/fn/inst, app/fn/other@7")
    assert main(["check"]) == 0  # app/fn/other@7 does not exist: told once as not found
    capsys.readouterr()
    assert main(["status"]) == 0
    printed = json.loads(capsys.readouterr().out)
    monkeypatch.setenv("TASKWATCH_HTTP_TOKEN", HTTP_TOKEN)
    event = build_event(
        "GET", "/status", [("Authorization", f"Bearer {HTTP_TOKEN}")], b"", source_ip="127.0.0.1", protocol="HTTP/1.1"
    )
    answer = handle(json.dumps(event).encode(), LocalContext(request_id="cli-test"))
    assert answer["statusCode"] == 200
    assert printed == json.loads(answer["body"])
    assert set(printed["targets"]) == {"app/fn/inst@latest", "app/fn/other@7"}


def test_status_of_file_state_needs_no_region(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("TASKWATCH_REGION", "ALIBABA_CLOUD_REGION_ID", "FC_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert main(["status"]) == 0
    assert json.loads(capsys.readouterr().out)["revision"] is None
    monkeypatch.setenv("TASKWATCH_STATE", "oss://state-bucket/tw")  # on OSS the region matters
    assert main(["status"]) == 2
    assert "bad setting TASKWATCH_REGION: is required" in capsys.readouterr().err
    assert emu.oss.calls == []


@pytest.mark.parametrize("speed", ["0", "-1", "0.0", "nan", "inf", "-inf", "fast"])
def test_demo_refuses_a_speed_that_is_not_above_0(speed: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["demo", f"--speed={speed}"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --speed: {speed!r}" in err and "Traceback" not in err


def test_demo_speed_reaches_the_demo(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import taskwatch_emulator.demo

    original = taskwatch_emulator.demo.run_demo
    with pytest.raises(ValueError, match="speed must be a number above 0, not 0"):
        original(speed=0)
    seen: list[float] = []

    def fake_demo(speed: float) -> int:
        seen.append(speed)
        return 0

    monkeypatch.setattr(taskwatch_emulator.demo, "run_demo", fake_demo)
    assert main(["demo", "--speed", "2.5"]) == 0 and seen == [2.5]
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "a number above 0" in capsys.readouterr().out


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1", "http", ""])
def test_serve_refuses_a_port_outside_1_to_65535(
    port: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from taskwatch import serve

    monkeypatch.setattr(serve, "serve", lambda port: pytest.fail("serve must not start"))
    with pytest.raises(SystemExit) as done:
        main(["serve", f"--port={port}"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --port: {port!r} is not a port from 1 to 65535" in err and "Traceback" not in err


def test_serve_on_a_busy_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"taskwatch: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_serve_module_refuses_a_port_above_65535_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from taskwatch.serve import serve

    assert serve(99999) == 1
    assert capsys.readouterr().err.splitlines() == [
        "taskwatch: cannot listen on 127.0.0.1:99999: the port must be from 1 to 65535"
    ]


def pyproject_version() -> str:
    match = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.MULTILINE)
    assert match is not None
    return match.group(1)


def test_version(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"taskwatch {pyproject_version()}\n"
    assert cli.VERSION == pyproject_version()  # the fallback stays the released version

    import importlib.metadata

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)  # e.g. run from the FC code package
    monkeypatch.setattr(cli, "VERSION", "9.9.9-fallback")
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == "taskwatch 9.9.9-fallback\n"


def lifecycle_env(monkeypatch: pytest.MonkeyPatch, state: str | None) -> None:
    """TASKWATCH_STATE alone (or nothing) on top of the clean environment of tests/conftest.py."""
    monkeypatch.delenv("TASKWATCH_STATE", raising=False)
    if state is not None:
        monkeypatch.setenv("TASKWATCH_STATE", state)


def test_policy_lifecycle_is_the_xml_of_infra_and_needs_only_the_state(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lifecycle_env(monkeypatch, "oss://my-bucket/taskwatch")  # no targets, region or credentials
    assert main(["policy", "--lifecycle"]) == 0
    xml = capsys.readouterr().out
    infra = (ROOT / "infra" / "bucket-lifecycle.xml").read_text(encoding="utf-8")
    assert xml == re.sub(r"<!--.*?-->\n", "", infra, flags=re.DOTALL)  # the file, without its comment
    assert main(["policy", "--lifecycle", "--format", "json"]) == 0
    assert capsys.readouterr().out == (ROOT / "infra" / "bucket-lifecycle.json").read_text(encoding="utf-8")
    monkeypatch.setenv("TASKWATCH_STATE", "oss://my-bucket/team/tw")
    assert main(["policy", "--lifecycle", "--claim-days", "3"]) == 0
    xml = capsys.readouterr().out
    assert "<Prefix>team/tw/claims/</Prefix>" in xml and "<Days>3</Days>" in xml
    assert main(["policy", "--trust"]) == 0
    assert json.loads(capsys.readouterr().out)["Statement"][0]["Action"] == "sts:AssumeRole"


def test_policy_lifecycle_without_oss_state_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lifecycle_env(monkeypatch, None)
    assert main(["policy", "--lifecycle"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "TASKWATCH_STATE: is not set" in captured.err
    lifecycle_env(monkeypatch, "file:///tmp/tw")
    assert main(["policy", "--lifecycle"]) == 2
    assert "not on OSS" in capsys.readouterr().err
    lifecycle_env(monkeypatch, "oss://my-bucket/tw")
    assert main(["policy", "--trust", "--format", "xml"]) == 2  # RAM takes JSON only
    assert "RAM policies are JSON" in capsys.readouterr().err
