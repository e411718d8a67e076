"""Scale: idle ticks at thousands of targets, the state's size, the first tick's writes, and a
discovery tick, side by side in one run.

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
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "emulator")]

from bench.common import bench_emulator, child_env  # noqa: E402
from bench.runtimes import CpuLimit, Runtime, venv_runtime  # noqa: E402
from bench.ticks import Child, count_calls, make_targets  # noqa: E402

DISCOVERY_GROUPS = 10
FUNCTIONS = ("ctr", "pop", "category", "hot", "hint", "suggest", "analyzer", "termweight", "synonym")


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
    idle = ticks["idle2"]["calls"]
    return {
        "runtime": runtime.label,
        "targets": targets,
        "idle_s": round(ticks["idle2"]["wall_s"], 2),
        "first_s": round(ticks["first"]["wall_s"], 2),
        "peak_rss_mb": round(max(t["max_rss_mb"] for t in ticks.values()), 1),
        "idle_calls": {key: idle[key] for key in ("opensearch", "oss_reads", "oss_writes")},
        "first_writes": ticks["first"]["calls"]["oss_writes"],
        "state_bytes_per_target": round(len(state) / targets),
    }


def discovery_tick(runtime: Runtime, latency: float, log_dir: Path) -> dict[str, Any]:
    """``app/*`` over 10 app groups, each with the 9 documented functions of 3 instances each."""
    from taskwatch_emulator import Step

    with bench_emulator() as emu:
        emu.opensearch.latency = latency
        for g in range(DISCOVERY_GROUPS):
            for fn in FUNCTIONS:
                for i in range(3):
                    emu.opensearch.add_task(f"group{g}", fn, f"i{i}", 1, [Step("running", 40)])
        env = child_env(
            {
                **emu.env(bucket="bench-state", prefix="tw"),
                "TASKWATCH_TARGETS": ",".join(f"group{g}/*" for g in range(DISCOVERY_GROUPS)),
                "TASKWATCH_DISCOVER_MINUTES": "0",
            }
        )
        child = Child(runtime, env, log_dir / "discovery.log", timeout=600)
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
    return {
        "app_groups": DISCOVERY_GROUPS,
        "functions": len(FUNCTIONS),
        "targets": DISCOVERY_GROUPS * len(FUNCTIONS) * 3,
        "wall_s": round(answer["wall_s"], 2),
        "listing_calls": emu.opensearch.instance_listings - listings_before,
        "opensearch_calls": calls["opensearch"],
        "oss_reads": calls["oss_reads"],
        "oss_writes": calls["oss_writes"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000", help="target counts, comma-separated (default 1000,5000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per OpenSearch call (default 0.05)")
    parser.add_argument("--fc-cpu", type=float, default=0.1, help="also run in a cgroup of this many CPUs; 0 = off")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r} must be whole numbers separated by commas")
    runtime = venv_runtime()
    log_dir = Path(tempfile.mkdtemp(prefix="taskwatch-scale-"))
    rows = []
    started = time.monotonic()
    runtimes = [runtime]
    limit = CpuLimit(args.fc_cpu) if args.fc_cpu else None
    if limit is not None and limit.problem is None:
        runtimes.append(runtime.limited(limit))
    elif limit is not None:
        print(f"scale: no {args.fc_cpu} vCPU runs: {limit.problem}", file=sys.stderr)
    try:
        for rt in runtimes:
            for size in sizes:
                print(f"scale: {size} targets on {rt.label} …", file=sys.stderr, flush=True)
                try:
                    rows.append(idle_row(rt, size, args.latency, log_dir))
                except RuntimeError as err:  # a tick that does not fit is a figure too
                    rows.append({"runtime": rt.label, "targets": size, "error": str(err)[:300]})
        discovery = discovery_tick(runtime, args.latency, log_dir)
    finally:
        if limit is not None:
            limit.close()
    result = {
        "latency_s": args.latency,
        "idle": rows,
        "discovery": discovery,
        "seconds": round(time.monotonic() - started, 1),
    }
    print("| runtime | targets | idle tick | first tick | first tick's OSS writes | peak RSS | idle calls |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['runtime']} | {r['targets']:,} | failed: {r['error']} | | | | |")
            continue
        c = r["idle_calls"]
        print(
            f"| {r['runtime']} | {r['targets']:,} | {r['idle_s']} s | {r['first_s']} s | {r['first_writes']:,} "
            f"| {r['peak_rss_mb']} MB | {c['opensearch']:,} OpenSearch, {c['oss_reads']} OSS reads, "
            f"{c['oss_writes']} writes |"
        )
    sizes_seen = [r["state_bytes_per_target"] for r in rows if "state_bytes_per_target" in r]
    print(f"\nstate.json: {sizes_seen[0] if sizes_seen else '-'} bytes per target (as stored)")
    d = discovery
    print(
        f"discovery tick, {d['app_groups']} app groups x {d['functions']} functions ({d['targets']} instances): "
        f"{d['wall_s']} s, {d['listing_calls']} listing calls, {d['opensearch_calls']} OpenSearch calls in all, "
        f"{d['oss_reads']} OSS reads, {d['oss_writes']} OSS writes"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
