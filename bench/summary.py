"""The summary at scale: one summary event over many targets against the emulator, then a second
event of the same hour; what each costs in calls (OSS reads and writes, OpenSearch: none, chat
requests), request bytes and wall time.

Runs in this process: a summary is one state read, rendering, and one request per channel, with no
SDK-heavy work a fresh function process would show. The state is seeded as the ticks would have
left it (a third of the targets running with a progress history, a third failed, a third done, each
with finished runs), so the numbers are the summary's alone.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: import the bench package (and the emulator) from the repository root.
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "emulator"), str(_ROOT / "handler")]

from bench.channel_digests import arm, channel_table, fake
from bench.common import bench_emulator

PLATFORMS = ("dingtalk", "wecom", "feishu", "slack", "webhook")
BUCKET = "bench-summary"
PREFIX = "tw"
EVENT_TIME = "2026-12-03T01:00:00Z"  # the summary events' triggerTime (09:00 in Shanghai)
NOW_MS = 1_796_259_600_000 + 20 * 60_000  # 20 minutes after it, when the function runs
HOUR_MS = 3_600_000
_MORE = re.compile(r"… \+(\d+) more \(see")  # the targets left out (not the runs' own "+N more runs")


def target_keys(count: int) -> list[str]:
    return [f"bench_app{n % 10}/fn{n}/inst{n}@latest" for n in range(count)]


def seeded_state(keys: list[str], now_ms: int = NOW_MS) -> bytes:
    """The state ticks would leave: running (with a progress history), failed and done targets,
    each with finished runs within and before the last 24 h."""
    from taskwatch.state import FinishedRun, State, TargetState

    targets = {}
    for n, key in enumerate(keys):
        start = now_ms - (n % 20 + 1) * HOUR_MS // 4
        runs: tuple[FinishedRun, ...] = (
            FinishedRun(str(n), "success", now_ms - 40 * HOUR_MS, now_ms - 38 * HOUR_MS),
            FinishedRun(str(n + 1), "failed" if n % 7 == 0 else "success", now_ms - 9 * HOUR_MS, now_ms - 7 * HOUR_MS),
        )
        if n % 3 == 0:
            history = tuple((start + i * 600_000, float(5 * i + n % 5)) for i in range(1, 10))
            entry = TargetState(
                generation=str(n + 2), status="running", progress=history[-1][1], start_time=start, history=history
            )
        else:
            status = "failed" if n % 3 == 1 else "success"
            last = FinishedRun(str(n + 2), status, start, now_ms - 60_000)
            entry = TargetState(generation=str(n + 2), status=status, progress=60, start_time=start, end_time=now_ms)
            runs = (*runs, last)
        targets[key] = replace(entry, runs=runs)
    return json.dumps(State(revision=7, targets=targets).to_json(), separators=(",", ":")).encode()


def config_text(emu: Any, keys: list[str], platforms: tuple[str, ...]) -> str:
    """Every platform's ``[[channel]]``, and one ``[[watch]]`` of every target to all of them."""
    tables = "".join(channel_table(emu, platform) for platform in platforms)
    return f'timezone = "Asia/Shanghai"\n{tables}[[watch]]\ntargets = {json.dumps(keys)}\n'


def _calls(emu: Any, platforms: tuple[str, ...]) -> dict[str, Any]:
    by_method: dict[str, int] = {}
    with emu.oss.lock:
        for call in emu.oss.calls:
            by_method[call.method] = by_method.get(call.method, 0) + 1
    return {
        "opensearch": emu.opensearch.count(),
        "oss_reads": by_method.get("GET", 0) + by_method.get("HEAD", 0),
        # Write requests, a create-only PUT the store refused (the claim existed) included.
        "oss_writes": sum(n for method, n in by_method.items() if method in ("PUT", "POST", "DELETE")),
        "chat_requests": {platform: fake(emu, platform).count() for platform in platforms},
    }


def _reset(emu: Any, platforms: tuple[str, ...]) -> None:
    for service in (emu.opensearch, emu.oss, *(fake(emu, p) for p in platforms)):
        service.reset_calls()


def _event(emu: Any, settings: Any, wiring: Any, platforms: tuple[str, ...], targets: int) -> dict[str, Any]:
    """One summary event, timed, with the calls it made and what each chat received."""
    from taskwatch.summary_run import run

    bodies: dict[str, list[bytes]] = {p: [] for p in platforms}
    for platform in platforms:
        fake(emu, platform).hold = lambda req, seen=bodies[platform]: seen.append(req.body)
    _reset(emu, platforms)
    try:
        started = time.perf_counter()
        result = run(settings, wiring=wiring, trigger_time=EVENT_TIME)
        wall_ms = (time.perf_counter() - started) * 1000
    finally:
        for platform in platforms:
            fake(emu, platform).hold = None
    shown: dict[str, int] = {}
    for platform, sent in bodies.items():
        if sent:
            more = _MORE.search(sent[0].decode("utf-8", "replace"))
            shown[platform] = targets - int(more.group(1)) if more else targets
    return {
        "wall_ms": round(wall_ms, 1),
        "outcomes": dict(result.channels),
        **_calls(emu, platforms),
        "body_bytes": {platform: len(sent[0]) for platform, sent in bodies.items() if sent},
        "targets_shown": shown,
    }


def summary_bench(targets: int = 1000, platforms: tuple[str, ...] = PLATFORMS) -> dict[str, Any]:
    """A summary event over ``targets`` targets to each of ``platforms``' fakes, then a second event
    of the same hour (which must send nothing): the calls and wall time of each."""
    from taskwatch.wiring import Wiring, load

    keys = target_keys(targets)
    state = seeded_state(keys)
    with bench_emulator() as emu, tempfile.TemporaryDirectory() as tmp:
        arm(emu)
        env = emu.env(bucket=BUCKET, prefix=PREFIX)
        emu.oss.put(BUCKET, f"{PREFIX}/state.json", state)
        config = Path(tmp) / "taskwatch.toml"
        config.write_text(config_text(emu, keys, platforms), encoding="utf-8")
        env["TASKWATCH_CONFIG"] = f"file://{config}"
        wiring = Wiring(clock=lambda: NOW_MS, in_fc=False)
        settings = load(env, wiring=wiring)
        first = _event(emu, settings, wiring, platforms, targets)
        second = _event(emu, settings, wiring, platforms, targets)
        errors = [e for s in (emu.opensearch, emu.oss, *(fake(emu, p) for p in platforms)) for e in s.errors]
    return {
        "targets": targets,
        "channels": list(platforms),
        "state_bytes": len(state),
        "first": first,
        "same_hour": second,
        "emulator_errors": errors,
    }


if __name__ == "__main__":
    print(json.dumps(summary_bench(), indent=2, ensure_ascii=False))
