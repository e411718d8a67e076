"""The `taskwatch` command against the loopback emulator, with file state as a local user has it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskwatch.cli import main
from taskwatch_emulator import Emulator, Step


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(access_key_id="LTAIcliTestKey", access_key_secret="cli-secret") as emulator:
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
    assert "no state yet" in capsys.readouterr().out

    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "----- taskwatch: 1 change -----" in out and "1 change(s), 1 sent, state saved" in out

    assert main(["check"]) == 0
    assert "0 change(s), 0 sent, state unchanged" in capsys.readouterr().out

    assert main(["status"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["targets"]["app/fn/inst@latest"]["progress"] == 40
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
