"""A long scripted run: 5 targets, 300 ticks (25 virtual hours), random faults on all three services.

The script (seeded) decides every task's generation, status and progress at every tick; the true
changes are computed from the script alone, independently of taskwatch's code:

- per target, the sequence of "now watching", "not found", "new run", final status, "stalled" and
  "moving again" must equal the true one exactly (no gap, no repeat, same order);
- progress crossings: per generation strictly increasing multiples of the step (each bucket at most
  once), never above the highest progress the generation reached while running, and the bucket of
  that highest progress is always told (levels are held long enough for any delay the faults cause);
- "cannot read" / "recovered" come from the faults, not the script: per target they alternate,
  starting with an alert and ending recovered;
- no change id is delivered twice (from the `delivered` log lines).

Faults: windows of 1-3 ticks (then at least 2 clean ticks) on OpenSearch, OSS GET/PUT/DELETE (DELETE
together with a DingTalk failure, so released claims stay behind) and DingTalk, plus single blips that
the clients' retries absorb. Figures go to `.cache/long-run.json`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from alibabacloud_oss_v2 import defaults as oss_defaults
from conftest import Cloud, report_figures
from test_e2e_promises import delivered

SEED = 20261128
TICKS = 300
TICK_MINUTES = 5
STEP = 25
STALL_MINUTES = 120  # 24 ticks
# A long plateau (36+ ticks, 3 hours) is a stall whatever delays the faults cause; every other level is
# held at most 20 ticks (100 min), so it never is: a late observer sees a plateau shorter, never longer.
LONG_PLATEAU = 36
LAST_TICK_OF_STORY = TICKS - 25  # every run ends before this: the story is complete inside the run
APP, FN = "search_app", "ranker"


@dataclass
class Gen:
    number: int
    start: int  # first tick it is visible
    levels: list[tuple[int, int]]  # (tick, progress) while running
    end: int  # tick it becomes final (may be beyond the run)
    final: str

    def at(self, tick: int) -> tuple[str, int]:
        if tick >= self.end:
            return self.final, 100 if self.final == "success" else self.levels[-1][1]
        progress = max(p for t, p in self.levels if t <= tick)
        return "running", progress


@dataclass
class Target:
    instance: str
    latest: bool
    gens: list[Gen] = field(default_factory=list)

    @property
    def key(self) -> str:
        suffix = "latest" if self.latest else self.gens[0].number
        return f"{APP}/{FN}/{self.instance}@{suffix}"

    @property
    def setting(self) -> str:
        return f"{APP}/{FN}/{self.instance}" + ("" if self.latest else f"@{self.gens[0].number}")


def make_gen(rng: random.Random, number: int, start: int, stall: bool) -> Gen:
    """A run: a first level held 10+ ticks, rising levels, maybe one long plateau, a last level held 12+."""
    levels = [(start, rng.choice([0, 2, 5]))]
    tick = start + rng.randint(10, 14)
    progress = levels[0][1]
    steps = rng.randint(2, 5)
    plateau_at = rng.randrange(steps) if stall else -1
    for i in range(steps):
        progress = min(95, progress + rng.randint(6, 30))
        if progress == levels[-1][1]:
            break  # at the cap: a level is a move
        levels.append((tick, progress))
        tick += LONG_PLATEAU + rng.randint(0, 5) if i == plateau_at else rng.randint(3, 8)
    tick += 12  # the last level is held long enough to be seen whatever the delays
    return Gen(number, start, levels, tick, rng.choice(["success", "success", "failed"]))


def make_script(rng: random.Random) -> list[Target]:
    targets = [
        Target("alpha", latest=True),
        Target("gamma", latest=True),
        Target("eps", latest=True),  # no task at first: "not found", then watched
        Target("beta", latest=False),
        Target("delta", latest=False),
    ]
    for target in targets:
        if target.latest:
            tick = 45 if target.instance == "eps" else 0
            number = rng.randint(1, 50)
            while True:
                gen = make_gen(rng, number, tick, stall=rng.random() < 0.4)
                if gen.end >= LAST_TICK_OF_STORY:
                    break
                target.gens.append(gen)
                # The next run starts with the previous one's end (both between two ticks) or later.
                tick = gen.end + rng.choice([0, 0, 1, 3, 12])
                number += rng.randint(1, 3)
        else:
            gen = make_gen(rng, rng.randint(100, 200), 0, stall=target.instance == "delta")
            assert gen.end < LAST_TICK_OF_STORY
            target.gens.append(gen)
    return targets


Event = tuple[str, str | None, str, str]


def truth(targets: list[Target]) -> dict[str, list[Event]]:
    """The changes the script makes, per target, in order (progress crossings checked apart)."""
    out: dict[str, list[Event]] = {}
    for target in targets:
        events: list[Event] = []
        seen = target.gens
        if seen[0].start > 0:
            events.append((target.key, None, "not_found", ""))
        for i, gen in enumerate(seen):
            number = str(gen.number)
            events.append((target.key, number, "watching" if i == 0 else "new_run", ""))
            for (tick, _), nxt in zip(gen.levels, [*gen.levels[1:], None], strict=True):
                held_until = nxt[0] if nxt else gen.end
                if held_until - tick >= LONG_PLATEAU:
                    events.append((target.key, number, "stalled", ""))
                    if nxt is not None:  # progress resumed while running (else the run ended stalled)
                        events.append((target.key, number, "moving", ""))
            events.append((target.key, number, "status", gen.final))
        out[target.key] = events
    return out


@dataclass
class Faults:
    """Random fault windows; ``apply`` before a tick, ``clear`` after it."""

    rng: random.Random
    cloud: Cloud
    left: int = 0  # ticks left in the current window
    rest: int = 0  # clean ticks before the next window may start
    window: tuple[str, dict[str, Any]] | None = None
    injected: dict[str, int] = field(default_factory=dict)

    CHOICES: tuple[tuple[str, dict[str, Any]], ...] = (
        ("opensearch", {"kind": "status", "status": 503}),
        ("opensearch", {"kind": "status", "status": 403, "code": "Forbidden"}),
        ("opensearch", {"kind": "malformed"}),
        ("opensearch", {"kind": "reset", "path": "/instances/alpha/"}),
        ("opensearch", {"kind": "timeout", "seconds": 0.08, "path": "/instances/beta/"}),
        ("oss", {"kind": "status", "status": 503, "method": "GET"}),
        ("oss", {"kind": "malformed", "method": "GET"}),
        ("oss", {"kind": "status", "status": 500, "method": "PUT"}),
        ("oss", {"kind": "malformed", "method": "PUT"}),
        ("oss", {"kind": "latency", "seconds": 0.08, "method": "PUT"}),  # written, but the answer is late
        ("oss", {"kind": "reset", "method": "PUT"}),
        ("oss+dingtalk", {"kind": "status", "status": 503, "method": "DELETE"}),
        ("dingtalk", {"kind": "status", "status": 502}),
        ("dingtalk", {"kind": "errcode", "errcode": -1}),
        ("dingtalk", {"kind": "errcode", "errcode": 130101}),
        ("dingtalk", {"kind": "malformed"}),
        ("dingtalk", {"kind": "reset"}),
    )

    def apply(self) -> None:
        if self.left == 0 and self.rest == 0 and self.rng.random() < 0.3:
            self.window = self.rng.choice(self.CHOICES)
            self.left = self.rng.randint(1, 3)
            name = f"{self.window[0]} {self.window[1]['kind']} {self.window[1].get('method') or ''}".strip()
            self.injected[name] = self.injected.get(name, 0) + 1
        if self.left > 0 and self.window is not None:
            service, options = self.window
            options = dict(options)
            kind = options.pop("kind")
            if service == "oss+dingtalk":
                self.cloud.emu.dingtalk.inject("errcode", times=None)
                service = "oss"
            getattr(self.cloud.emu, service).inject(kind, times=None, **options)
            self.left -= 1
            if self.left == 0:
                self.rest = 2
        elif self.rest > 0:
            self.rest -= 1
        if self.rng.random() < 0.1:  # a blip: one failed request, which the client retries
            service = self.rng.choice(["opensearch", "oss", "dingtalk"])
            getattr(self.cloud.emu, service).inject("status", times=1, status=503)
            self.injected["blip"] = self.injected.get("blip", 0) + 1

    def clear(self) -> None:
        for svc in (self.cloud.emu.opensearch, self.cloud.emu.oss, self.cloud.emu.dingtalk):
            svc.faults.clear()


def play(cloud: Cloud, targets: list[Target], tick: int) -> None:
    """Set every task to what the script says at ``tick``."""
    emu = cloud.emu.opensearch
    for target in targets:
        for gen in target.gens:
            if gen.start > tick:
                continue
            status, progress = gen.at(tick)
            emu.set_task(APP, FN, target.instance, gen.number, status, progress)


@pytest.mark.parametrize("cloud", ["py312"], indirect=True)
def test_long_run_delivers_the_true_changes_once_in_order(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    cloud.use_timeouts(opensearch_read=0.05, chat_read=0.05, oss_readwrite=0.05)
    cloud.monkeypatch.setattr(oss_defaults, "DEFAULT_BASE_DELAY_S", 0.001)  # the OSS SDK's retry backoff
    rng = random.Random(SEED)
    targets = make_script(rng)
    cloud.monkeypatch.setenv("TASKWATCH_TARGETS", ", ".join(t.setting for t in targets))
    cloud.monkeypatch.setenv("TASKWATCH_PROGRESS_STEP", str(STEP))
    cloud.monkeypatch.setenv("TASKWATCH_STALL_MINUTES", str(STALL_MINUTES))
    cloud.monkeypatch.setenv("TASKWATCH_ERROR_TICKS", "3")
    faults = Faults(rng, cloud)
    failed_ticks = 0

    for tick in range(TICKS):
        play(cloud, targets, tick)
        if 0 < tick < TICKS - 20:  # the last 20 ticks are clean: everything pending gets out
            faults.apply()
        try:
            cloud.tick(TICK_MINUTES)
        except RuntimeError as err:
            assert "\n" not in str(err)
            failed_ticks += 1
        faults.clear()

    told = delivered(cloud.texts())
    expected = truth(targets)
    by_target: dict[str, list[Event]] = {key: [] for key in expected}
    for event in told:
        by_target[event[0]].append(event)

    for target in targets:
        events = by_target[target.key]
        story = [e for e in events if e[2] not in ("progress", "error", "recovered")]
        assert story == expected[target.key], target.key
        alerts = [e[2] for e in events if e[2] in ("error", "recovered")]
        assert alerts == ["error", "recovered"] * (len(alerts) // 2), (target.key, alerts)
        for gen in target.gens:
            told_steps = [int(e[3]) for e in events if e[2] == "progress" and e[1] == str(gen.number)]
            top = max(p for _, p in gen.levels) // STEP * STEP
            assert told_steps == sorted(set(told_steps)), (target.key, gen.number, told_steps)
            assert all(s % STEP == 0 and s <= top for s in told_steps), (target.key, gen.number, told_steps)
            if top > gen.levels[0][1] // STEP * STEP:  # the last level is held 15+ ticks: always seen
                assert told_steps and told_steps[-1] == top, (target.key, gen.number, told_steps, gen.levels)

    ids: list[str] = []
    for line in capsys.readouterr().err.splitlines():
        if line.startswith("{") and '"event": "delivered"' in line:
            ids.extend(json.loads(line)["ids"])
    assert len(ids) == len(set(ids)) == len(told)  # no change id sent twice; every one parsed back

    true_count = sum(len(v) for v in expected.values())
    figures = {
        "seed": SEED,
        "targets": len(targets),
        "ticks": TICKS,
        "virtualHours": TICKS * TICK_MINUTES / 60,
        "messages": len(cloud.texts()),
        "changesDelivered": len(told),
        "trueChanges (status, new run, watching, not found, stall, moving)": true_count,
        "progressCrossings": sum(1 for e in told if e[2] == "progress"),
        "errorAlerts": sum(1 for e in told if e[2] == "error"),
        "faultWindows": sum(v for k, v in faults.injected.items() if k != "blip"),
        "blips": faults.injected.get("blip", 0),
        "faultKinds": faults.injected,
        "failedTicks": failed_ticks,
        "duplicates": 0,
        "gaps": 0,
        "command": ".venv/bin/pytest tests/e2e/test_e2e_long_run.py",
    }
    report_figures(None, "long-run.json", figures)
    print(json.dumps(figures))
