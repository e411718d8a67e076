"""The summary end to end: the real handler against the emulator, two channels from a config file,
each with the targets its ``[[watch]]`` routes to it. Two summary timer events of one hour post one
message to each chat, and neither reads a task: the summary is made of the stored state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from channels import Spec, Watch, configure, digests, fake_errors, forget_secrets, text_of
from conftest import BUCKET, Cloud

from taskwatch.fc import handle
from taskwatch_emulator import Step

APP, FN = "search_app", "ranker"
A, B = f"{APP}/{FN}/a", f"{APP}/{FN}/b"


def summary_event(trigger_time: str) -> bytes:
    return json.dumps({"triggerTime": trigger_time, "triggerName": "summary", "payload": "summary"}).encode()


def oss_calls(cloud: Cloud) -> dict[str, int]:
    by_method: dict[str, int] = {}
    with cloud.emu.oss.lock:
        for call in cloud.emu.oss.calls:
            by_method[call.method] = by_method.get(call.method, 0) + 1
    return by_method


@pytest.mark.parametrize("cloud", ["py310", "py312"], indirect=True)
def test_two_summary_events_of_one_hour_post_one_summary_to_each_channel(
    cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_secrets(monkeypatch)
    channels = [Spec("dingtalk", name="team-a"), Spec("slack", name="team-b", kinds=("status:failed",))]
    watches = [Watch((A,), channels=("team-a",)), Watch((B,), channels=("team-b",))]
    configure(cloud, tmp_path / "taskwatch.toml", channels, watches, timezone="Asia/Shanghai")
    opensearch = cloud.emu.opensearch
    steps = [Step("running", 10), Step("running", 30, after_seconds=300), Step("running", 50, after_seconds=600)]
    opensearch.add_task(APP, FN, "a", 1, steps)
    opensearch.add_task(APP, FN, "b", 1, [Step("running", 10), Step("failed", 20, after_seconds=300)])
    for _ in range(3):
        cloud.tick()  # the ticks leave a state: a running with a progress history, b failed
    told = {kind: len(digests(cloud.emu, kind)) for kind in ("dingtalk", "slack")}
    reads, oss_before = opensearch.count(), oss_calls(cloud)

    hour = "2026-11-19T08:00:00Z"
    first: dict[str, Any] = json.loads(handle(summary_event(hour), cloud.context(), cloud.wiring))
    assert first == {"hour": hour, "channels": {"team-a": "sent", "team-b": "sent"}, "targets": 2}
    # A late second event of the same hour (FC's retry, an invocation by hand): nothing again.
    second = json.loads(handle(summary_event("2026-11-19T08:59:30Z"), cloud.context(), cloud.wiring))
    assert second["channels"] == {"team-a": "sentByAnotherTick", "team-b": "sentByAnotherTick"}

    assert opensearch.count() == reads  # no task read for a summary
    oss = oss_calls(cloud)
    delta = {method: oss.get(method, 0) - oss_before.get(method, 0) for method in oss}
    # The state once per event; each channel's claim: created and marked sent (2 PUTs), then a
    # refused create-only PUT and a GET that finds it sent.
    assert delta == {"GET": 2 + 2, "PUT": 2 * 2 + 2}
    assert sorted(k for k in cloud.objects("tw/claims/") if "summary-" in k) == [
        "tw/claims/team-a/summary-2026111908",
        "tw/claims/team-b/summary-2026111908",
    ]
    assert (BUCKET, "tw/state.json") in cloud.emu.oss.objects

    a_texts = [text_of("dingtalk", m) for m in digests(cloud.emu, "dingtalk")[told["dingtalk"] :]]
    b_texts = [text_of("slack", m) for m in digests(cloud.emu, "slack")[told["slack"] :]]
    assert len(a_texts) == 1 and len(b_texts) == 1  # exactly one summary each
    # Each channel's own targets; the slack channel's kinds filter does not hold the summary back.
    assert a_texts[0].startswith("#### taskwatch summary: 1 target, 1 running, 0 failed")
    assert f"*{A}@latest* running" in a_texts[0] and B not in a_texts[0] and "left, ≈ " in a_texts[0]
    assert "(+08:00)" in a_texts[0]
    assert "*taskwatch summary: 1 target, 0 running, 1 failed*" in b_texts[0]
    assert f"*{B}@latest* failed" in b_texts[0] and A not in b_texts[0]
    assert "*Last 24 h*: 1 started · 0 succeeded · 1 failed" in b_texts[0]
    assert f"- ❌ {B}@latest · gen 1: failed after 5m, ended " in b_texts[0]

    # The next hour's event posts the next summary.
    third = json.loads(handle(summary_event("2026-11-19T09:00:00Z"), cloud.context(), cloud.wiring))
    assert third["channels"] == {"team-a": "sent", "team-b": "sent"}
    assert len(digests(cloud.emu, "dingtalk")) == told["dingtalk"] + 2 and opensearch.count() == reads
    assert not fake_errors(cloud.emu)
