"""`taskwatch summary` against the loopback emulator, with file state as a local user has it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.creds import AK_SECRET, PLAIN_AK_ID

from taskwatch import wiring
from taskwatch.cli import main
from taskwatch.summary_run import hour_of
from taskwatch_emulator import Emulator, Step

# The summary's clock, fixed: two runs then share an hour whenever the test runs.
NOW = int(time.time() * 1000) // 3_600_000 * 3_600_000 + 60_000


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(access_key_id=PLAIN_AK_ID, access_key_secret=AK_SECRET) as emulator:
        emulator.opensearch.add_task("app", "fn", "inst", 5, [Step("running", 40)])
        emulator.opensearch.add_task("app", "fn", "bad", 3, [Step("failed", 60)])
        for name, value in emulator.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("TASKWATCH_TARGETS", "app/fn/inst, app/fn/bad")
        monkeypatch.setenv("TASKWATCH_STATE", f"file://{tmp_path / 'state'}")
        monkeypatch.setenv("TASKWATCH_TIMEZONE", "+08:00")
        monkeypatch.setattr(wiring, "LOCAL", replace(wiring.LOCAL, clock=lambda: NOW))
        yield emulator


def test_summary_prints_with_dry_run_then_posts_once_an_hour(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == 0  # a tick leaves the state the summary is made of
    calls, told = emu.opensearch.count(), len(emu.dingtalk.messages)
    capsys.readouterr()

    assert main(["summary", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("(dry run: nothing sent, nothing written)\n----- dingtalk -----\n")
    assert "#### taskwatch summary: 2 targets, 1 running, 1 failed" in out and "(+08:00)" in out
    assert out.index("**app/fn/bad@latest** failed") < out.index("**app/fn/inst@latest** running")
    assert len(emu.dingtalk.messages) == told and not list((tmp_path / "state").rglob("summary-*"))

    assert main(["summary"]) == 0
    assert capsys.readouterr().out == f"summary of {hour_of(NOW):%Y-%m-%dT%H:00:00Z}: dingtalk sent\n"
    assert main(["summary"]) == 0  # the same hour
    assert capsys.readouterr().out.endswith("dingtalk sentByAnotherTick\n")
    assert len(emu.dingtalk.messages) == told + 1
    assert emu.dingtalk.messages[-1]["markdown"]["title"] == "taskwatch summary: 2 targets, 1 running, 1 failed"
    assert emu.opensearch.count() == calls  # the summary reads no task
    assert [p.name for p in (tmp_path / "state").rglob("summary-*")] == [f"summary-{hour_of(NOW):%Y%m%d%H}"]


def test_without_a_robot_the_summary_prints(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DINGTALK_WEBHOOK")
    assert main(["summary"]) == 0  # no state yet: every target "not read yet"
    out = capsys.readouterr().out
    assert "----- taskwatch summary: 2 targets, 0 running, 0 failed -----" in out
    assert "**Now**: 2 not read yet" in out and out.endswith("console sent\n")


def test_a_failed_delivery_exits_1_and_a_bad_setting_2(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.dingtalk.inject("errcode", times=None, errcode=310000)
    assert main(["summary"]) == 1
    assert "summary not delivered to 1 channel(s); dingtalk: " in capsys.readouterr().err
    monkeypatch.setenv("TASKWATCH_TIMEZONE", "nowhere")
    assert main(["summary", "--dry-run"]) == 2
    assert "bad setting TASKWATCH_TIMEZONE" in capsys.readouterr().err
