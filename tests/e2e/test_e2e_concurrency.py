"""Four ticks started at the same moment over the same state and the same change: one message.

Threads: 4 threads call `fc.handle` (what `index.handler` runs) behind a `threading.Barrier`,
20 repetitions, each over a fresh change (a new status or a new generation, alternately).
Processes: the same with 4 spawned worker processes behind a `multiprocessing.Barrier`, against
the emulator running in this process.
A variant makes the winning tick's send fail: nothing may be sent twice, nothing lost.
Figures go to `.cache/concurrency.json`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import Cloud, report_figures
from helpers.fc import TIMER_EVENT, Context
from test_e2e_promises import delivered

from taskwatch.fc import handle
from taskwatch_emulator import Step

APP, FN = "search_app", "ranker"
KEY = f"{APP}/{FN}/main@latest"
PARALLEL = 4
REPEATS = 20
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def record() -> Iterator[None]:
    yield
    FIGURES["command"] = ".venv/bin/pytest tests/e2e/test_e2e_concurrency.py"
    report_figures(None, "concurrency.json", FIGURES)


def next_change(cloud: Cloud, rep: int) -> tuple[str, str, str]:
    """Script one change for repetition ``rep``; returns it as (generation, kind, value).

    Even repetitions: the running generation fails; odd ones: a new generation starts."""
    generation = 7 + rep // 2
    if rep % 2 == 0:  # the running generation fails
        cloud.emu.opensearch.set_task(APP, FN, "main", generation, "failed", 40)
        return str(generation), "status", "failed"
    cloud.emu.opensearch.add_task(APP, FN, "main", generation + 1, [Step("running", 5)])  # a new run
    return str(generation + 1), "new_run", ""


def outcome(answer: Any) -> str:
    if isinstance(answer, Exception):
        return f"failed: {answer}"
    changes = json.loads(answer)["changes"]
    if not changes:
        return "nothing to do (state already committed)"
    if any(c["sent"] for c in changes):
        return "sent"
    if any(c["sentByAnotherTick"] for c in changes):
        return "found it sent, recorded it"
    return "found it in flight, left it"


def run_threads(cloud: Cloud) -> list[str]:
    barrier = threading.Barrier(PARALLEL)
    answers: list[Any] = [None] * PARALLEL

    def one(i: int) -> None:
        context = Context(request_id=f"parallel-{i}", credentials=cloud.credentials)
        barrier.wait(timeout=10)
        try:
            answers[i] = handle(TIMER_EVENT, context, cloud.wiring)
        except Exception as err:
            answers[i] = err

    threads = [threading.Thread(target=one, args=(i,)) for i in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return [outcome(a) for a in answers]


def settle_and_check(cloud: Cloud, expected: list[tuple[str, str | None, str, str]]) -> None:
    """A later tick records what a parallel tick left in flight and sends nothing again."""
    answer = cloud.tick()
    assert not any(c["sent"] for c in answer["changes"]) or len(cloud.texts()) == len(expected)
    assert delivered(cloud.texts()) == expected
    assert cloud.tick()["changes"] == []


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)  # the context style plays no part here
def watch_main(cloud: Cloud) -> list[tuple[str, str | None, str, str]]:
    """Watch one running task and deliver its "now watching"; the changes expected so far."""
    cloud.monkeypatch.setenv("TASKWATCH_TARGETS", f"{APP}/{FN}/main")
    cloud.emu.opensearch.add_task(APP, FN, "main", 7, [Step("running", 40)])
    cloud.tick()
    return [(KEY, "7", "watching", "")]


def one_message_round(
    cloud: Cloud,
    before: int,
    outcomes: list[str],
    tally: dict[str, int],
    expected: list[tuple[str, str | None, str, str]],
    change: tuple[str | None, str, str],
) -> None:
    """The round's parallel ticks sent exactly one message; record it and let the state settle."""
    assert len(cloud.texts()) == before + 1, outcomes
    assert outcomes.count("sent") == 1 and not any(o.startswith("failed") for o in outcomes), outcomes
    for o in outcomes:
        tally[o] = tally.get(o, 0) + 1
    expected.append((KEY, *change))
    cloud.clock.advance(300)
    settle_and_check(cloud, expected)


def test_four_threads_at_once_send_each_change_once(cloud: Cloud) -> None:
    expected = watch_main(cloud)
    tally: dict[str, int] = {}
    for rep in range(REPEATS):
        generation, kind, value = next_change(cloud, rep)
        before = len(cloud.texts())

        outcomes = run_threads(cloud)

        one_message_round(cloud, before, outcomes, tally, expected, (generation, kind, value))
    FIGURES[f"threads[{cloud.style}]"] = {
        "parallel": PARALLEL,
        "repetitions": REPEATS,
        "messagesPerRepetition": 1,
        "passed": REPEATS,
        "outcomes": tally,
    }


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
def test_four_threads_when_the_winner_cannot_send(cloud: Cloud) -> None:
    expected = watch_main(cloud)
    tally = {"sent in the same round": 0, "sent by the next tick": 0}
    for rep in range(5):
        generation, kind, value = next_change(cloud, rep)
        before = len(cloud.texts())
        cloud.emu.dingtalk.inject("errcode", times=2)  # the winner's send and its retry fail

        outcomes = run_threads(cloud)

        # The winner released its claim: a slower tick may still take the change over and send it.
        assert len(cloud.texts()) - before <= 1, outcomes
        assert sum(1 for o in outcomes if "stay pending" in o) == 1, outcomes
        tally["sent in the same round" if len(cloud.texts()) > before else "sent by the next tick"] += 1
        expected.append((KEY, generation, kind, value))
        cloud.clock.advance(300)
        settle_and_check(cloud, expected)
    FIGURES[f"threadsWinnerFails[{cloud.style}]"] = {
        "parallel": PARALLEL,
        "repetitions": 5,
        "passed": 5,
        "outcomes": tally,
    }


# --- processes -------------------------------------------------------------------------------------

_BARRIER: Any = None


def _init_worker(barrier: Any, env: dict[str, str], path: list[str]) -> None:
    global _BARRIER
    _BARRIER = barrier
    sys.path[:0] = [p for p in path if p not in sys.path]
    os.environ.clear()
    os.environ.update(env)


def _worker_tick(now_ms: int, request_id: str, targets: str | None = None) -> str:
    from taskwatch.fc import handle
    from taskwatch.wiring import Wiring

    if targets is not None:
        os.environ["TASKWATCH_TARGETS"] = targets
    wiring = Wiring(clock=lambda: now_ms)  # the parent's virtual clock, frozen for this tick
    _BARRIER.wait(timeout=20)
    try:
        return str(handle(TIMER_EVENT, Context(request_id=request_id), wiring))
    except Exception as err:
        return json.dumps({"error": str(err)})


def _process_pool(cloud: Cloud) -> ProcessPoolExecutor:
    # Spawned workers import this module by name with the parent's sys.path: make `conftest` resolve
    # to this folder's conftest there too, not tests/conftest.py (which comes first in a full run).
    cloud.monkeypatch.syspath_prepend(str(Path(__file__).parent))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PARALLEL)
    return ProcessPoolExecutor(
        PARALLEL, mp_context=ctx, initializer=_init_worker, initargs=(barrier, dict(os.environ), list(sys.path))
    )


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
def test_four_processes_at_once_send_each_change_once(cloud: Cloud) -> None:
    expected = watch_main(cloud)
    tally: dict[str, int] = {}
    with _process_pool(cloud) as pool:
        for rep in range(REPEATS):
            generation, kind, value = next_change(cloud, rep)
            before = len(cloud.texts())
            now_ms = int(cloud.clock() * 1000)

            futures = [pool.submit(_worker_tick, now_ms, f"proc-{rep}-{i}") for i in range(PARALLEL)]
            answers = [f.result(timeout=60) for f in futures]

            outcomes = [outcome(RuntimeError(json.loads(a)["error"]) if '"error"' in a else a) for a in answers]
            one_message_round(cloud, before, outcomes, tally, expected, (generation, kind, value))
    FIGURES["processes[py312]"] = {
        "parallel": PARALLEL,
        "repetitions": REPEATS,
        "messagesPerRepetition": 1,
        "passed": REPEATS,
        "outcomes": tally,
    }


# --- first sight of several targets at once ---------------------------------------------------------
# Each round watches three targets never seen before (the last round's are dropped, so every round
# after the first is "targets added to a stored state"); four ticks start together. Ticks may split
# the targets' claims between them: however they do, each target's "now watching" is told once.

PER_ROUND = 3
# What each of the two tests below records once all its rounds passed.
SEVERAL_TARGETS_FIGURES = {
    "parallel": PARALLEL,
    "repetitions": REPEATS,
    "targetsPerRepetition": PER_ROUND,
    "eachToldOnce": REPEATS,
}


def new_targets(cloud: Cloud, rep: int) -> str:
    instances = [f"r{rep}i{n}" for n in range(PER_ROUND)]
    for instance in instances:
        cloud.emu.opensearch.add_task(APP, FN, instance, 7, [Step("running", 40)])
    return ",".join(f"{APP}/{FN}/{i}" for i in instances)


def each_told_once(cloud: Cloud, before: int, targets: str) -> None:
    cloud.monkeypatch.setenv("TASKWATCH_TARGETS", targets)
    cloud.clock.advance(300)
    cloud.tick()  # records whatever a parallel tick left in flight
    assert cloud.tick()["changes"] == []
    told = sorted(t[0] for t in delivered(cloud.texts()[before:]) if t[2] == "watching")
    assert told == sorted(f"{t}@latest" for t in targets.split(",")), told
    assert all(t[2] == "watching" for t in delivered(cloud.texts()[before:]))


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
def test_four_threads_first_sight_of_several_targets(cloud: Cloud) -> None:
    for rep in range(REPEATS):
        targets = new_targets(cloud, rep)
        cloud.monkeypatch.setenv("TASKWATCH_TARGETS", targets)
        before = len(cloud.texts())

        outcomes = run_threads(cloud)

        assert not any(o.startswith("failed") for o in outcomes), outcomes
        each_told_once(cloud, before, targets)
    FIGURES["threadsSeveralNewTargets[py312]"] = SEVERAL_TARGETS_FIGURES


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
def test_four_processes_first_sight_of_several_targets(cloud: Cloud) -> None:
    with _process_pool(cloud) as pool:
        for rep in range(REPEATS):
            targets = new_targets(cloud, rep)
            before = len(cloud.texts())
            now_ms = int(cloud.clock() * 1000)

            futures = [pool.submit(_worker_tick, now_ms, f"proc-new-{rep}-{i}", targets) for i in range(PARALLEL)]
            answers = [f.result(timeout=60) for f in futures]

            assert not any('"error"' in a for a in answers), answers
            each_told_once(cloud, before, targets)
    FIGURES["processesSeveralNewTargets[py312]"] = SEVERAL_TARGETS_FIGURES
