"""Scale: idle ticks at thousands of targets, the state's size, the first tick's writes, and a
discovery tick. bench/run.py reports them as its scale section (bench/scale_section.py); this
script measures the same alone:

    .venv/bin/python bench/scale.py [--sizes 1000,5000] [--latency 0.05] [--fc-cpu 0.1] [--json FILE]

The function runs in a fresh process (bench/tick_child.py, the dev venv's Python with handler/ and
site-packages) against the emulator in this process, whose OpenSearch answers each call after
``--latency`` seconds. ``--fc-cpu`` runs the same sizes again in a cgroup limited to that many CPUs
(Linux, root), as FC's ``cpu: 0.1``; 0 skips it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: import the bench package (and the emulator) from the repository root.
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "emulator")]

from bench.common import bench_emulator, child_env
from bench.runtimes import CpuLimit, Runtime, venv_runtime
from bench.ticks import Child, count_calls, make_targets

DISCOVERY_GROUPS = 10
FUNCTIONS = ("ctr", "pop", "category", "hot", "hint", "suggest", "analyzer", "termweight", "synonym")
CALL_KEYS = ("opensearch", "oss_reads", "oss_writes", "dingtalk")


def idle_row(runtime: Runtime, targets: int, latency: float, log_dir: Path) -> dict[str, Any]:
    """A first tick and two idle ticks over ``targets`` targets listed in a config file (an
    environment of thousands of targets is more than FC, or exec, takes)."""
    from taskwatch_emulator import Step

    specs = make_targets(targets)
    config = log_dir / f"targets-{targets}.toml"
    config.write_text("[[watch]]\ntargets = [\n" + "".join(f'  "{s.setting()}",\n' for s in specs) + "]\n")
    with bench_emulator() as emu:
        emu.opensearch.latency = latency
        for spec in specs:
            steps = [Step("running", 40, {"recall": 88, "errors": []})]
            emu.opensearch.add_task(spec.app_group, spec.function, spec.instance, spec.generation, steps)
        env = child_env({**emu.env(bucket="bench-state", prefix="tw"), "TASKWATCH_CONFIG": f"file://{config}"})
        env.pop("TASKWATCH_TARGETS", None)
        child = Child(runtime, env, log_dir / f"scale-{runtime.key}-{targets}.log", timeout=900)
        ticks = {}
        try:
            child.read()
            for name in ("first", "idle1", "idle2"):
                for svc in (emu.opensearch, emu.oss, emu.dingtalk):
                    svc.reset_calls()
                answer = child.ask("tick")
                if answer.get("error"):
                    raise RuntimeError(f"tick {name} at {targets} targets failed: {answer['error']}")
                answer["calls"] = count_calls(emu)
                ticks[name] = answer
        finally:
            child.close()
        state = emu.oss.objects.get(("bench-state", "tw/state.json"), b"")
    first, idle = ticks["first"], ticks["idle2"]
    return {
        "runtime": runtime.label,
        "runtime_key": runtime.key,
        "targets": targets,
        "idle_s": round(idle["wall_s"], 2),
        "idle_cpu_s": round(idle["cpu_s"], 2),
        "first_s": round(first["wall_s"], 2),
        "peak_rss_mb": round(max(t["max_rss_mb"] for t in ticks.values()), 1),
        "idle_calls": {key: idle["calls"][key] for key in CALL_KEYS},
        "opensearch_per_target": round(idle["calls"]["opensearch"] / targets, 3),
        "first_calls": {key: first["calls"][key] for key in CALL_KEYS},
        "first_writes": first["calls"]["oss_writes"],
        "first_oss_by_method": first["calls"]["oss_by_method"],
        # A tick that runs out of its read budget leaves targets unread ("ran out of time"): the
        # size does not fit this CPU, which is a figure, not a failure of the benchmark.
        "first_read_failures": first["read_failures"],
        "idle_read_failures": idle["read_failures"],
        "fits": not first["read_failures"] and not idle["read_failures"],
        "state_bytes_per_target": round(len(state) / targets),
    }


def discovery_tick(runtime: Runtime, latency: float, log_dir: Path, groups: int = DISCOVERY_GROUPS) -> dict[str, Any]:
    """``app/*`` over ``groups`` app groups, each with the 9 documented functions of 3 instances each."""
    from taskwatch_emulator import Step

    with bench_emulator() as emu:
        emu.opensearch.latency = latency
        for g in range(groups):
            for fn in FUNCTIONS:
                for i in range(3):
                    emu.opensearch.add_task(f"group{g}", fn, f"i{i}", 1, [Step("running", 40)])
        env = child_env(
            {
                **emu.env(bucket="bench-state", prefix="tw"),
                "TASKWATCH_TARGETS": ",".join(f"group{g}/*" for g in range(groups)),
                "TASKWATCH_DISCOVER_MINUTES": "0",
            }
        )
        child = Child(runtime, env, log_dir / f"discovery-{runtime.key}.log", timeout=600)
        try:
            child.read()
            child.ask("tick")  # the first tick: every instance "now watching"
            for svc in (emu.opensearch, emu.oss, emu.dingtalk):
                svc.reset_calls()
            listings_before = emu.opensearch.instance_listings
            answer = child.ask("tick")  # a discovery tick with nothing new
            calls = count_calls(emu)
        finally:
            child.close()
    if answer.get("error"):
        raise RuntimeError(f"discovery tick failed: {answer['error']}")
    return {
        "runtime": runtime.label,
        "app_groups": groups,
        "functions": len(FUNCTIONS),
        "targets": groups * len(FUNCTIONS) * 3,
        "wall_s": round(answer["wall_s"], 2),
        "listing_calls": emu.opensearch.instance_listings - listings_before,
        "opensearch_calls": calls["opensearch"],
        "oss_reads": calls["oss_reads"],
        "oss_writes": calls["oss_writes"],
    }


def scale_figures(
    runtime: Runtime,
    sizes: Sequence[int],
    latency: float,
    fc_cpu: float,
    log_dir: Path,
    progress: Callable[[str], None],
    discovery_groups: int = DISCOVERY_GROUPS,
) -> dict[str, Any]:
    """Every size at full CPU, then (``fc_cpu`` > 0 and a cgroup to be had) limited to ``fc_cpu``
    CPUs; then a discovery tick at full CPU. What both this script and bench/run.py report."""
    started = time.monotonic()
    runtimes = [runtime]
    limit = CpuLimit(fc_cpu) if fc_cpu > 0 else None
    limited: dict[str, Any] = {"vcpu": fc_cpu, "available": False, "reason": "disabled (--fc-cpu 0)"}
    if limit is not None and limit.path is not None:
        runtimes.append(runtime.limited(limit))
        limited = {"vcpu": fc_cpu, "available": True}
    elif limit is not None:
        limited["reason"] = limit.problem
        progress(f"scale: no {fc_cpu} vCPU runs: {limit.problem}")
    rows = []
    try:
        for rt in runtimes:
            for size in sizes:
                progress(f"scale: {size:,} targets on {rt.label}")
                try:
                    row = idle_row(rt, size, latency, log_dir)
                except RuntimeError as err:  # a tick that does not fit is a figure too
                    row = {"runtime": rt.label, "runtime_key": rt.key, "targets": size, "error": str(err)[:300]}
                row["vcpu"] = fc_cpu if rt is not runtime else None
                rows.append(row)
    finally:
        if limit is not None:
            limit.close()
    progress(f"scale: discovery tick over {discovery_groups} app groups")
    discovery = discovery_tick(runtime, latency, log_dir, discovery_groups)
    figures: dict[str, Any] = {
        "runtime": runtime.label,
        "latency_s": latency,
        "sizes": list(sizes),
        "fc_cpu": limited,
        "idle": rows,
        "discovery": discovery,
    }
    full = [r for r in rows if r["vcpu"] is None and "error" not in r]
    largest = max(full, key=lambda r: int(r["targets"]), default=None)
    if largest is not None:
        figures["state_bytes_per_target"] = largest["state_bytes_per_target"]
        figures["first_tick"] = {
            "targets": largest["targets"],
            "wall_s": largest["first_s"],
            "oss_writes": largest["first_writes"],
            "oss_by_method": largest["first_oss_by_method"],
        }
    figures["state_bytes_full_history"] = full_history_bytes()
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures


def full_history_bytes(targets: int = 1000) -> int:
    """Bytes per target of a state.json where every target carries all it may keep: 20 progress
    samples, 10 finished runs, 20 metrics of its last success, an error text (the upper bound of
    what insight adds; the figure as stored is measured by the ticks above)."""
    import json

    from taskwatch.model import FinishedRun, State, TargetState

    start = 1_795_000_000_000
    metrics = tuple((f"metric_{i}", f"0.{i:03d}5") for i in range(20))
    entry = TargetState(
        rev=9_999,
        generation="1795000000",
        status="running",
        progress=61.5,
        start_time=start,
        metrics=metrics,
        progress_since=start,
        last_error="transient: ServiceUnavailable (request 7A3C)",
        history=tuple((start + n * 300_000, float(3 * n)) for n in range(20)),
        runs=tuple(FinishedRun(str(1_794_000_000 + n), "success", start - n, start) for n in range(10)),
        success_metrics=metrics,
        told_at=start,
        failing_since=start,
    )
    key = "search_app_0001/ranker/instance-0001@latest"
    state = State(revision=9_999, targets={f"{key}{n}": entry for n in range(targets)})
    return round(len(json.dumps(state.to_json(), separators=(",", ":"))) / targets)


def main(argv: list[str] | None = None) -> int:
    from bench.markdown import table
    from bench.report_sections import render_scale
    from bench.scale_section import goal_targets, scale_goals

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000", help="target counts, comma-separated (default 1000,5000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per OpenSearch call (default 0.05)")
    parser.add_argument("--fc-cpu", type=float, default=0.1, help="also run in a cgroup of this many CPUs; 0 = off")
    parser.add_argument("--discovery-groups", type=int, default=DISCOVERY_GROUPS, help="app groups (default 10)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r} must be whole numbers separated by commas")
    if not sizes:
        parser.error("--sizes names no target count")

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log_dir = Path(tempfile.mkdtemp(prefix="taskwatch-scale-"))
    result = scale_figures(venv_runtime(), sizes, args.latency, args.fc_cpu, log_dir, progress, args.discovery_groups)
    result["goal_targets"] = goal_targets(sizes)
    goals = scale_goals(result)
    print("\n".join(render_scale(result, number="")).strip())
    print(
        "\n"
        + table(["goal", "measured", "met"], ((g["goal"], g["value"], "yes" if g["met"] else "**no**") for g in goals))
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
