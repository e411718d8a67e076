"""Connections a warm instance opens: the first tick of a process, then the second.

A warm Function Compute instance runs many ticks in one process; each new TCP (and, in the cloud,
TLS) connection costs a handshake on 0.1 vCPU. The emulator counts the connections it accepts per
service; the goal for the second tick is 0. Both ticks change something, so the second one reads,
claims, delivers and saves (every client is used). Two cases, each in a fresh process, each with
as many targets as TASKWATCH_CONCURRENCY (every read of a tick runs at once):

- *one change*: the default TASKWATCH_CONCURRENCY; one target changes in the second tick;
- *every target changes*: 64 threads (the most TASKWATCH_CONCURRENCY allows), more than the 20
  connections the OSS SDK's own pool would keep; every target changes in both ticks, so every
  target's claim is written at once.

A connection pool keeps as many connections as were in flight at once, so a second tick needs a
new one only if more of its calls overlap than the first tick's did, which on loopback (a call
ends in a millisecond) is down to thread scheduling. So the emulator holds the calls a tick makes
in parallel (its reads; its claim writes, the create-only PUTs) until all of them have arrived, as
a network's latency would: each tick has exactly as many in flight as it makes, and any new
connection in the second tick is a client rebuilt or a pool too small to keep what it opened.

    .venv/bin/python bench/warm_connections.py [--quick] [--json PATH] [--snapshot bench/RESULTS.md]

bench/run.py runs it too (its report and RESULTS.md carry the same section and a goal row).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARK_START, MARK_END = "<!-- warm-connections -->", "<!-- /warm-connections -->"
EVENT = b'{"triggerTime": "2026-11-19T00:00:00Z", "triggerName": "timer", "payload": ""}'
SERVICES = ("opensearch", "oss", "dingtalk")
COMMAND = ".venv/bin/python bench/warm_connections.py --snapshot bench/RESULTS.md"
GATE_TIMEOUT_S = 5.0  # longer than a SYN retransmit (1 s) when 64 connects overflow the listen backlog


@dataclass(frozen=True)
class Case:
    name: str
    targets: int  # = TASKWATCH_CONCURRENCY
    every_target_changes: bool

    @property
    def label(self) -> str:
        what = "every target changes" if self.every_target_changes else "one change"
        return f"{what}, {self.targets} targets, TASKWATCH_CONCURRENCY={self.targets}"


def cases(quick: bool) -> list[Case]:
    # Quick keeps the busy case above the OSS SDK's pool of 20; 16 is the default concurrency.
    return [Case("one_change", 5 if quick else 16, False), Case("every_target", 24 if quick else 64, True)]


class Gate:
    """Holds the first ``size`` requests that ``wanted`` picks until all of them have arrived."""

    def __init__(self, size: int, wanted: Callable[[Any], bool]) -> None:
        self._size = size
        self._wanted = wanted
        self._arrived = 0
        self._cond = threading.Condition()
        self.timeouts = 0  # requests that waited in vain: the tick made fewer calls than expected

    def __call__(self, req: Any) -> None:
        if not self._wanted(req):
            return
        with self._cond:
            if self._arrived >= self._size:
                return
            self._arrived += 1
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: self._arrived >= self._size, GATE_TIMEOUT_S):
                self.timeouts += 1


def is_claim_write(req: Any) -> bool:
    return bool(req.method == "PUT" and req.header("x-oss-forbid-overwrite") == "true")


class _Context:
    request_id = "bench-warm"
    credentials = None


def measure(case: Case) -> dict[str, Any]:
    """Two timer ticks through index.handler in this process, against an emulator it starts."""
    sys.path[:0] = [str(ROOT / "handler"), str(ROOT / "emulator")]
    import index
    from taskwatch_emulator import Emulator, ManualClock, Step

    for name in list(os.environ):
        if "PROXY" in name.upper() or name.startswith(("ALIYUN_", "TASKWATCH_", "DINGTALK_", "ALIBABA_CLOUD_")):
            del os.environ[name]
    clock = ManualClock(time.time())  # taskwatch signs with the real clock
    with Emulator(access_key_id="STS.BenchKey", security_token="bench-token", clock=clock, auth_clock=time.time) as emu:
        os.environ.update(emu.env(bucket="bench-warm"))
        os.environ["TASKWATCH_TARGETS"] = ",".join(f"app/fn/i{n}" for n in range(case.targets))
        os.environ["TASKWATCH_CONCURRENCY"] = str(case.targets)
        tasks = [emu.opensearch.add_task("app", "fn", f"i{n}", 7, [Step("running", 10)]) for n in range(case.targets)]
        # The targets are known already (a state as the first "now watching" tick leaves it): the
        # first tick of this process then claims one object per change, as later ticks do, where a
        # first sight claims all of its changes with one object and would leave the pool small.
        emu.oss.put("bench-warm", "taskwatch/state.json", known_state(case.targets, int(clock() * 1000)))
        services = {"opensearch": emu.opensearch, "oss": emu.oss, "dingtalk": emu.dingtalk}
        counts: list[dict[str, int]] = []
        timeouts = 0
        for tick in range(2):
            changed = tasks if tick == 0 or case.every_target_changes else tasks[:1]  # tick 0: every target moves
            for task in changed:
                task.steps = [Step("running", 60)] if tick == 0 else [Step("success", 100)]
            gates = (Gate(case.targets, lambda req: True), Gate(len(changed), is_claim_write))
            emu.opensearch.hold, emu.oss.hold = gates
            before = {name: svc.connections for name, svc in services.items()}
            index.handler(EVENT, _Context())
            counts.append({name: svc.connections - before[name] for name, svc in services.items()})
            timeouts += sum(gate.timeouts for gate in gates)
        messages = len(emu.dingtalk.messages)
        errors = [e for svc in services.values() for e in svc.errors]
    figures = {"first": counts[0], "second": counts[1], "messages": messages}
    return {**asdict(case), "label": case.label, **figures, "gate_timeouts": timeouts, "emulator_errors": len(errors)}


def known_state(targets: int, now_ms: int) -> bytes:
    """state.json with every target running at 10 %, as a first tick leaves it."""
    from taskwatch.model import State, TargetState

    entry = TargetState(rev=1, generation="7", status="running", progress=10, progress_since=now_ms)
    state = State(revision=1, epoch=1, targets={f"app/fn/i{n}@latest": entry for n in range(targets)})
    return json.dumps(state.to_json()).encode()


def run(quick: bool, python: str = sys.executable) -> dict[str, Any]:
    """Every case in a fresh process of ``python`` (the first tick of a process is what it says)."""
    results = []
    for case in cases(quick):
        out = subprocess.run(  # noqa: S603 - our own script
            [python, str(Path(__file__).resolve()), "--case", json.dumps(asdict(case))],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("WARM ")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"warm-connections case {case.name} failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(lines[-1][len("WARM ") :]))
    met = all(
        not any(r["second"].values()) and r["messages"] == 2 and not r["emulator_errors"] and not r["gate_timeouts"]
        for r in results
    )
    return {"cases": results, "met": met}


def goal(report: dict[str, Any]) -> dict[str, Any]:
    """The row for bench/run.py's goals table."""
    seconds = "; ".join(
        f"{r['targets']} targets: " + " / ".join(str(r["second"][s]) for s in SERVICES) for r in report["cases"]
    )
    return {
        "goal": "second tick of a warm process opens 0 connections (OpenSearch / OSS / DingTalk)",
        "value": seconds,
        "met": report["met"],
    }


def render(report: dict[str, Any]) -> str:
    rows = ["| case | service | first tick of a process | second tick (goal 0) |", "|---|---|---|---|"]
    for r in report["cases"]:
        rows += [
            f"| {r['label'] if n == 0 else ''} | {s} | {r['first'][s]} | {r['second'][s]} |"
            for n, s in enumerate(SERVICES)
        ]
    return "\n".join(
        [
            MARK_START,
            "### 7. Connections opened by a warm instance (new TCP connections each fake accepted during a tick)",
            "",
            *rows,
            "",
            "Every read of a tick and every claim write of a tick in flight at once (the emulator holds them "
            "until all have arrived); both ticks of a case deliver a digest "
            f"({', '.join(str(r['messages']) for r in report['cases'])} DingTalk messages). "
            "What the cases are: bench/README.md.",
            f"Command: `{COMMAND}` (bench/run.py runs it too).",
            MARK_END,
        ]
    )


def write_snapshot(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(MARK_START) + r".*?" + re.escape(MARK_END), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller cases (what tests/bench runs)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument("--snapshot", default=None, help="replace the figures' section in this Markdown file")
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)  # one case, in the child process
    args = parser.parse_args(argv)
    if args.case:
        print("WARM " + json.dumps(measure(Case(**json.loads(args.case)))), flush=True)
        return 0
    report = run(args.quick)
    section = render(report)
    report.update(goal=goal(report), markdown=section)  # what bench/run.py puts in its report
    print(section)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.snapshot:
        write_snapshot(Path(args.snapshot), section)
    return 0 if report["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
