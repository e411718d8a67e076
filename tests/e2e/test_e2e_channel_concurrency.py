"""Four ticks at once over three channels: each change reaches each channel exactly once.

For each channel type, three channels are configured (that type and the next two), and each of
20 rounds scripts one fresh change (a failed run or a new run, alternately) and starts four
threads calling `fc.handle` (what `index.handler` runs) behind a `threading.Barrier`. Claims are
per change and channel, so different ticks may win different channels: whichever way the claims
fall, every channel gets exactly one message in the round, telling that change. A later tick
records what a parallel tick left in flight and sends nothing again.

A variant makes the channel of the type under test fail during the parallel ticks (and, every
other round, in the error_ticks ticks after them too): the two others still get one message a
round, the failing one gets each change once when it delivers again, and each run of failures is
told to the others once, then its end once. Another starts a tick while a parallel one is still
trying a failing channel: finding that channel's changes held tells nothing about the channel, so
no "delivers again" may follow from it.

Figures go to `.cache/channel-concurrency.json` and to the terminal (also without `-s`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels import TYPES, Spec, Told, configure, digests, fake, fake_errors, forget_secrets, told, told_flat
from conftest import Cloud, report_figures
from helpers.fc import TIMER_EVENT, Context
from test_e2e_concurrency import next_change, run_threads

from taskwatch.fc import handle
from taskwatch_emulator import Step

APP, FN = "search_app", "ranker"
KEY = f"{APP}/{FN}/main@latest"
REPEATS = 20
FAILING_REPEATS = 6  # each way of recovering three times
FIGURES: dict[str, Any] = {}
LINES: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def record(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    FIGURES["command"] = ".venv/bin/pytest tests/e2e/test_e2e_channel_concurrency.py"
    report_figures(request, "channel-concurrency.json", FIGURES, LINES)


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)  # the context style plays no part here
@pytest.mark.parametrize("kind", TYPES)
def test_four_ticks_at_once_tell_each_channel_once(
    cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    forget_secrets(monkeypatch)
    start = TYPES.index(kind)
    kinds = [TYPES[(start + i) % len(TYPES)] for i in range(3)]
    configure(cloud, tmp_path / "taskwatch.toml", [Spec(k) for k in kinds], [])
    monkeypatch.setenv("TASKWATCH_TARGETS", f"{APP}/{FN}/main")
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.tick()
    expected = [(KEY, "7", "watching", "")]
    assert all(told_flat(cloud.emu, k) == expected for k in kinds)
    tally: dict[str, int] = {}
    passed = 0
    for rep in range(REPEATS):
        generation, change, value = next_change(cloud, rep)
        before = {k: len(digests(cloud.emu, k)) for k in kinds}

        outcomes = run_threads(cloud)

        assert not any(o.startswith("failed") for o in outcomes), outcomes
        expected.append((KEY, generation, change, value))
        for k in kinds:  # one message per channel in the round, telling this change
            assert len(digests(cloud.emu, k)) == before[k] + 1, (k, rep, outcomes)
            assert told(cloud.emu, k)[-1] == [expected[-1]], (k, rep, told(cloud.emu, k)[-1])
        for o in outcomes:
            tally[o] = tally.get(o, 0) + 1
        cloud.clock.advance(300)
        cloud.tick()  # records what a parallel tick left in flight; sends nothing again
        assert cloud.tick()["changes"] == []
        assert all(told_flat(cloud.emu, k) == expected for k in kinds), rep
        assert "channels" not in cloud.state() or not cloud.state()["channels"]  # nothing owed
        passed += 1
    assert not fake_errors(cloud.emu) and cloud.emu.webhook.duplicates == 0
    FIGURES[kind] = {
        "channels": kinds,
        "parallel": 4,
        "repetitions": REPEATS,
        "passed": passed,
        "messagesPerChannelPerRepetition": 1,
        "outcomes": tally,
    }
    LINES.append(f"channel concurrency: {kind} {passed}/{REPEATS} rounds one message per channel")


def changes_told(cloud: Cloud, kind: str) -> list[Told]:
    return [c for c in told_flat(cloud.emu, kind) if not c[0].startswith("channel:")]


def alerts_told(cloud: Cloud, kind: str) -> list[str]:
    return [c[2] for c in told_flat(cloud.emu, kind) if c[0].startswith("channel:")]


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
@pytest.mark.parametrize("kind", TYPES)
def test_four_ticks_at_once_while_one_channel_fails(
    cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    forget_secrets(monkeypatch)
    start = TYPES.index(kind)
    kinds = [TYPES[(start + i) % len(TYPES)] for i in range(3)]
    healthy = kinds[1:]
    configure(cloud, tmp_path / "taskwatch.toml", [Spec(k) for k in kinds], [], error_ticks=2)
    monkeypatch.setenv("TASKWATCH_TARGETS", f"{APP}/{FN}/main")
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.tick()
    expected = [(KEY, "7", "watching", "")]
    alerts: list[str] = []
    for rep in range(FAILING_REPEATS):
        generation, change, value = next_change(cloud, rep)
        before = {k: len(digests(cloud.emu, k)) for k in healthy}
        fake(cloud.emu, kind).inject("status", None, status=503)

        outcomes = run_threads(cloud)

        # A tick fails only for the failing channel, and only when it held that channel's changes.
        assert all(o.startswith(f"failed: delivery failed to {kind},") for o in outcomes if "failed" in o), outcomes
        assert any(o.startswith("failed") for o in outcomes), outcomes  # someone tried it and failed
        expected.append((KEY, generation, change, value))
        for k in healthy:  # not held back: one message each in the round
            assert len(digests(cloud.emu, k)) == before[k] + 1, (k, rep, outcomes)
            assert told(cloud.emu, k)[-1] == [expected[-1]], (k, rep)
        cloud.clock.advance(300)
        if rep % 2:  # error_ticks more failed ticks in a row: told to the others once
            # Two, not one: the parallel ticks' commits race, and the last may be one that found
            # the channel's changes held by another tick and so did not count its failure.
            for _ in range(2):
                with pytest.raises(RuntimeError, match=f"delivery failed to {kind},"):
                    cloud.tick()
            alerts += ["channel_failing", "channel_ok"]
        fake(cloud.emu, kind).faults.clear()
        cloud.tick()  # the failing channel delivers what it owes; the others are told it is back
        assert cloud.tick()["changes"] == []
        assert changes_told(cloud, kind) == expected, (rep, outcomes)
        for k in healthy:
            assert changes_told(cloud, k) == expected and alerts_told(cloud, k) == alerts, (k, rep)
        assert "channels" not in cloud.state() or not cloud.state()["channels"]  # nothing owed
    assert not fake_errors(cloud.emu) and cloud.emu.webhook.duplicates == 0
    FIGURES[f"{kind} failing"] = {"channels": kinds, "parallel": 4, "repetitions": FAILING_REPEATS}


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
@pytest.mark.parametrize("kind", TYPES)
def test_a_tick_that_finds_a_failing_channels_changes_in_flight_does_not_tell_it_is_back(
    cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Tick A is still trying the failing channel when tick B starts: B finds that channel's changes
    held by A. That is no news of the channel, so B tells no "delivers again"; the one channel_ok
    comes when the channel really delivers."""
    forget_secrets(monkeypatch)
    other = TYPES[(TYPES.index(kind) + 1) % len(TYPES)]
    configure(cloud, tmp_path / "taskwatch.toml", [Spec(kind), Spec(other)], [], error_ticks=2)
    monkeypatch.setenv("TASKWATCH_TARGETS", f"{APP}/{FN}/main")
    task = cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 10)])
    cloud.tick()
    failing = fake(cloud.emu, kind)
    failing.inject("status", None, status=503)
    for progress in (30, 55):  # error_ticks failed ticks: the other channel is told once
        task.steps = [Step("running", progress)]
        with pytest.raises(RuntimeError, match=f"delivery failed to {kind},"):
            cloud.tick()
    assert alerts_told(cloud, other) == ["channel_failing"]
    # Tick A's request to the failing channel is held at the platform until tick B is done, then
    # refused: A holds that channel's claims all through B, whatever the timing.
    arrived, release = threading.Event(), threading.Event()

    def hold(request: Any) -> None:
        arrived.set()
        release.wait(10)

    failing.hold = hold
    cloud.use_timeouts(chat_read=10)  # A's client waits for the held answer
    task.steps = [Step("running", 80)]
    answers: list[Any] = []

    def tick_a() -> None:
        try:
            answers.append(handle(TIMER_EVENT, Context(request_id="tick-a"), cloud.wiring))
        except RuntimeError as err:
            answers.append(err)

    a = threading.Thread(target=tick_a)
    a.start()
    assert arrived.wait(10)
    try:
        answer_b = json.loads(handle(TIMER_EVENT, Context(request_id="tick-b"), cloud.wiring))
    finally:
        release.set()
        a.join(timeout=10)
        failing.hold = None

    assert isinstance(answers[0], RuntimeError) and f"delivery failed to {kind}," in str(answers[0])
    # B found the failing channel's changes held by A.
    assert {c["channels"][kind] for c in answer_b["changes"] if not c["target"].startswith("channel:")} == {"busy"}
    assert alerts_told(cloud, other) == ["channel_failing"]  # B told no "delivers again"
    failing.faults.clear()
    cloud.clock.advance(300)
    cloud.tick()
    assert alerts_told(cloud, other) == ["channel_failing", "channel_ok"]
    assert cloud.tick()["changes"] == []
    key = f"{APP}/{FN}/main@latest"
    owed = [(key, "7", "progress", p) for p in ("25", "50", "75")]
    assert told(cloud.emu, kind) == [[(key, "7", "watching", "")], owed]
    assert changes_told(cloud, other) == [(key, "7", "watching", ""), *owed]
