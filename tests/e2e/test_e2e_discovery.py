"""Wildcard targets end to end: instances listed through ListFunctionInstances (every page), told
as "now watching", listed again every discover_minutes, told once as removed; a failing listing
keeps the previous list and alerts after error_ticks."""

from __future__ import annotations

import os
import pathlib

import pytest
from conftest import BUCKET, Cloud

from taskwatch.http_api import status_body
from taskwatch.wiring import load
from taskwatch_emulator import Step

APP, FN = "shop", "ctr"


def kinds(answer: dict[str, object]) -> list[tuple[str, str]]:
    return [(c["kind"], c["target"]) for c in answer["changes"]]  # type: ignore[attr-defined,index]


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
def test_a_function_wildcard_lists_every_page_and_follows_what_comes_and_goes(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKWATCH_TARGETS", f"{APP}/{FN}/*")
    monkeypatch.setenv("TASKWATCH_DISCOVER_MINUTES", "30")
    for n in range(130):  # two pages of 100
        cloud.emu.opensearch.add_task(APP, FN, f"i{n:03d}", 1, [Step("running", 10)])

    first = cloud.tick()
    assert sorted(kinds(first)) == sorted(("watching", f"{APP}/{FN}/i{n:03d}@latest") for n in range(130))
    assert cloud.emu.opensearch.instance_listings == 2
    assert len(cloud.texts()) == 1
    assert cloud.state()["discovered"][f"{APP}/{FN}/*"]["instances"][:2] == [f"{FN}/i000", f"{FN}/i001"]
    # The status lists every discovered instance as a target, and the listing itself.
    settings = load(os.environ, wiring=cloud.wiring, require_credentials=False)
    status = status_body(settings, cloud.wiring)
    assert len(status["targets"]) == 130 and status["targets"][f"{APP}/{FN}/i042@latest"]["status"] == "running"
    assert len(status["discovered"][f"{APP}/{FN}/*"]["instances"]) == 130

    # Between listings the stored list is used: one call per target, no listing, nothing written.
    cloud.emu.opensearch.add_task(APP, FN, "new", 1, [Step("running", 5)])
    cloud.emu.opensearch.hide_instance(APP, FN, "i007")
    revision = cloud.state()["revision"]
    assert kinds(cloud.tick()) == []
    assert cloud.emu.opensearch.instance_listings == 2 and cloud.state()["revision"] == revision

    for _ in range(6):  # 30 minutes on: listed again
        answer = cloud.tick()
        if answer["changes"]:
            break
    assert sorted(kinds(answer)) == [("removed", f"{APP}/{FN}/i007@latest"), ("watching", f"{APP}/{FN}/new@latest")]
    text = cloud.texts()[-1]
    assert "no longer listed" in text and f"{APP}/{FN}/new@latest" in text
    assert f"{APP}/{FN}/i007@latest" not in cloud.state()["targets"]
    assert kinds(cloud.tick()) == []  # removed is told once


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
def test_a_failing_listing_keeps_the_list_and_alerts_after_error_ticks(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKWATCH_TARGETS", f"{APP}/*, other/fn/named")
    monkeypatch.setenv("TASKWATCH_DISCOVER_MINUTES", "0")  # every tick
    monkeypatch.setenv("TASKWATCH_ERROR_TICKS", "2")
    cloud.emu.opensearch.add_task(APP, "ctr", "a", 1, [Step("running", 10)])
    cloud.emu.opensearch.add_task(APP, "pop", "b", 1, [Step("running", 10)])
    cloud.emu.opensearch.add_task("other", "fn", "named", 1, [Step("running", 10)])

    first = kinds(cloud.tick())  # the 7 documented functions the group lacks are skipped
    expected = [f"{APP}/ctr/a@latest", f"{APP}/pop/b@latest", "other/fn/named@latest"]
    assert sorted(first) == sorted(("watching", key) for key in expected)
    cloud.emu.opensearch.inject(
        "status", times=None, status=503, code="ServiceUnavailable", path=f"/{APP}/functions/ctr/instances$"
    )
    with pytest.raises(RuntimeError, match="ServiceUnavailable"):
        cloud.tick()  # the timer run fails (so the log shows it), nothing is told yet
    with pytest.raises(RuntimeError):
        cloud.tick()
    alert = cloud.texts()[-1]
    assert "cannot read" in alert and f"{APP}/*" in alert and "listing instances" in alert
    assert sorted(cloud.state()["discovered"][f"{APP}/*"]["instances"]) == ["ctr/a", "pop/b"]  # kept
    cloud.emu.opensearch.faults.clear()
    assert kinds(cloud.tick()) == [("recovered", f"{APP}/*")]


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
def test_a_config_file_channel_gets_only_its_kinds(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    config = tmp_path / "taskwatch.toml"
    config.write_text(
        '[[channel]]\nname = "oncall"\ntype = "dingtalk"\nurl = "${env:DINGTALK_WEBHOOK}"\n'
        'secret = "${env:DINGTALK_SECRET}"\nkinds = ["status:failed", "error"]\n'
        f'[[watch]]\ntargets = ["{APP}/{FN}/main"]\n'
    )
    monkeypatch.delenv("TASKWATCH_TARGETS", raising=False)
    monkeypatch.setenv("TASKWATCH_CONFIG", f"file://{config}")
    cloud.emu.opensearch.add_task(
        APP, FN, "main", 1, [Step("running", 10), Step("running", 60, after_calls=1), Step("failed", 60, after_calls=2)]
    )
    assert kinds(cloud.tick()) == [("watching", f"{APP}/{FN}/main@latest")]
    assert kinds(cloud.tick()) == [("progress", f"{APP}/{FN}/main@latest")]
    assert cloud.texts() == []  # neither kind reaches this channel; both are recorded
    assert cloud.state()["targets"][f"{APP}/{FN}/main@latest"]["progress"] == 60
    assert kinds(cloud.tick()) == [("status", f"{APP}/{FN}/main@latest")]
    (text,) = cloud.texts()
    assert "running → **failed**" in text


def test_a_config_file_in_oss_is_read_at_every_tick(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read with the function's own credentials, before anything else; changed without a deploy."""
    cloud.emu.oss.objects[(BUCKET, "config/taskwatch.toml")] = f'[[watch]]\ntargets = ["{APP}/{FN}/a"]\n'.encode()
    monkeypatch.delenv("TASKWATCH_TARGETS", raising=False)
    monkeypatch.setenv("TASKWATCH_CONFIG", "oss://tw-e2e/config/taskwatch.toml")
    cloud.emu.opensearch.add_task(APP, FN, "a", 1, [Step("running", 10)])
    cloud.emu.opensearch.add_task(APP, FN, "b", 1, [Step("running", 10)])
    assert kinds(cloud.tick()) == [("watching", f"{APP}/{FN}/a@latest")]
    cloud.emu.oss.reset_calls()
    assert kinds(cloud.tick()) == []
    assert cloud.emu.oss.count(method="GET") == 2 and cloud.emu.oss.count(method="PUT") == 0  # config + state

    cloud.emu.oss.objects[(BUCKET, "config/taskwatch.toml")] = f'[[watch]]\ntargets = ["{APP}/{FN}/*"]\n'.encode()
    assert kinds(cloud.tick()) == [("watching", f"{APP}/{FN}/b@latest")]

    del cloud.emu.oss.objects[(BUCKET, "config/taskwatch.toml")]
    with pytest.raises(Exception, match=r"TASKWATCH_CONFIG: oss://tw-e2e/config/taskwatch\.toml does not exist"):
        cloud.tick()
