"""One benchmark run: which runtimes, which sizes, every section in turn, and the report's JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.analysis import calls_section, concurrency_choice, goals, recommend
from bench.channels import channels_section
from bench.cold_start import cold_start
from bench.common import REPO, RESULTS, WARM
from bench.cost import FC_VCPU, cost_section
from bench.package_size import package_from_venv, package_from_zip, package_summary
from bench.runtimes import (
    CpuLimit,
    Runtime,
    build_package,
    find_python312,
    package_runtimes,
    reuse_build,
    venv_runtime,
)
from bench.scale_section import QUICK_SIZES, scale_section
from bench.summary import summary_bench
from bench.ticks import tick_run
from infra.build_package import ZIP_NAME, Interpreter


@dataclass
class Config:
    quick: bool
    cold_runs: int
    sizes: tuple[int, ...]
    sweep_targets: int
    sweep: tuple[int, ...]
    latency: float
    idle_ticks: int
    calls_size: int
    fc_cpu: float = 0.0
    fc_runs: int = 3
    fc_sizes: tuple[int, ...] = (100, 500)
    fc_sweep: tuple[int, ...] = (4, 64)
    scale_sizes: tuple[int, ...] = (1000, 5000)
    channel_runs: int = 21  # renders of each platform's 300-change digest (their median is reported)


def config(args: argparse.Namespace) -> Config:
    if args.quick:
        cfg = Config(True, 3, (1, 5), 5, (2, 4), 0.05, 1, 5, scale_sizes=QUICK_SIZES, channel_runs=5)
    else:
        cfg = Config(False, 11, (1, 10, 100, 500), 500, (8, 16, 32, 64), 0.05, 3, 10, FC_VCPU)
    if args.runs:
        cfg.cold_runs = args.runs
    if args.sizes:
        cfg.sizes = tuple(int(s) for s in args.sizes.split(","))
    if args.sweep:
        cfg.sweep = tuple(int(s) for s in args.sweep.split(","))
    if args.fc_cpu is not None:
        cfg.fc_cpu = args.fc_cpu
    if args.scale_sizes:
        cfg.scale_sizes = tuple(int(s) for s in args.scale_sizes.split(","))
    return cfg


@dataclass
class Setup:
    """The runtimes of a run: cold starts run on each, ticks on ``tick``; the builds behind them."""

    runtimes: list[Runtime]
    tick: Runtime
    sources: Runtime | None = None  # the sources-only package, for 2b
    python312: Interpreter | None = None
    build: dict[str, Any] | None = None
    source_build: dict[str, Any] | None = None


def setup(cfg: Config, args: argparse.Namespace, progress: Callable[[str], None]) -> Setup:
    """--quick: the dev venv. Else both packages built (unless reused) and run on CPython 3.12, then the venv."""
    venv = venv_runtime()
    if cfg.quick:
        return Setup([venv], venv)
    python312 = find_python312(args.python312)
    out = Path(args.package_out).resolve()
    build = reuse_build(out) if args.reuse_build else None
    if build is None:
        progress("building the code package (infra/build_package.py)")
        build = build_package(out, python312.path if python312 else None)
    if python312 is None:
        progress("no CPython 3.12 found (TASKWATCH_PY312, python3.12 on PATH, pyenv, --python312): dev venv only")
        return Setup([venv], venv, build=build)
    source_out = out.parent / f"{out.name}-sources"
    source_build = reuse_build(source_out) if args.reuse_build else None
    if source_build is None:
        progress("building the sources-only package for comparison (infra/build_package.py --no-bytecode)")
        source_build = build_package(source_out, python312.path, bytecode=False)
    shipped, sources = package_runtimes(build, source_build, python312)
    return Setup([shipped, sources, venv], shipped, sources, python312, build, source_build)


def fc_cpu_section(
    cfg: Config,
    limit: CpuLimit,
    shipped: Runtime,
    sources: Runtime,
    concurrency: int,
    log_dir: Path,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Cold starts and ticks with the function process limited to ``limit.vcpu`` CPUs (the emulator is not)."""
    section: dict[str, Any] = {"vcpu": limit.vcpu, "available": True, "cold_start": [], "ticks": []}
    for runtime in (shipped.limited(limit), sources.limited(limit)):
        section["cold_start"].append(cold_start(runtime, cfg.fc_runs, progress, warm_up=False))
    ticking = shipped.limited(limit)
    section["tick_runtime"] = ticking.label
    plan = [(n, concurrency) for n in cfg.fc_sizes] + [(cfg.fc_sizes[-1], c) for c in cfg.fc_sweep]
    for targets, value in plan:
        progress(f"{limit.vcpu} vCPU ticks: {targets} targets, concurrency {value}")
        run = tick_run(ticking, targets, value, cfg.latency, 2, False, log_dir)
        run.pop("top_level_modules_loaded", None)
        section["ticks"].append(run)
    return section


def fc_cpu(
    cfg: Config, found: Setup, concurrency: int, log_dir: Path, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Section 2b: the same on FC's CPU share, the function process in a cgroup limited to s.yaml's 0.1 vCPU."""
    section: dict[str, Any] = {"vcpu": cfg.fc_cpu, "available": False, "reason": "disabled (--fc-cpu 0)"}
    if cfg.fc_cpu > 0 and found.sources is not None:
        limit = CpuLimit(cfg.fc_cpu)
        if limit.path is None:
            section["reason"] = limit.problem
            progress(f"no {cfg.fc_cpu} vCPU run: {limit.problem}")
            return section
        try:
            return fc_cpu_section(cfg, limit, found.runtimes[0], found.sources, concurrency, log_dir, progress)
        finally:
            limit.close()
    if cfg.fc_cpu > 0:
        section["reason"] = "needs the built package and CPython 3.12 (not in --quick)"
    return section


def warm_connections(quick: bool) -> dict[str, Any]:
    """bench/warm_connections.py's figures, with its goal row and its Markdown section."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "warm.json"
        command = [sys.executable, str(WARM), "--json", str(out), *(["--quick"] if quick else [])]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
        if not out.exists():
            raise RuntimeError(f"bench/warm_connections.py failed:\n{done.stderr[-3000:]}")
        figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = config(args)
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    log_dir = RESULTS / "logs"
    log_dir.mkdir(exist_ok=True)
    from taskwatch.settings import DEFAULT_CONCURRENCY

    found = setup(cfg, args, progress)
    report: dict[str, Any] = {
        "meta": {
            "command": "python bench/run.py" + (" --quick" if cfg.quick else ""),
            "quick": cfg.quick,
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
            "parent_python": platform.python_version(),
            "python312": found.python312.path if found.python312 else None,
            "build": found.build,
            "source_build": found.source_build,
            "default_concurrency": DEFAULT_CONCURRENCY,
            "load_average_at_start": os.getloadavg(),
            "config": cfg.__dict__,
        }
    }

    # 1. cold start
    report["cold_start"] = []
    for runtime in found.runtimes:
        runs = cfg.cold_runs if runtime.key != "venv" or cfg.quick else max(5, cfg.cold_runs // 2)
        report["cold_start"].append(cold_start(runtime, runs, progress))

    # 2-4. ticks
    ticks = []
    for size in cfg.sizes:
        progress(f"ticks: {size} targets, concurrency {DEFAULT_CONCURRENCY}")
        with_change = size == cfg.calls_size
        ticks.append(tick_run(found.tick, size, DEFAULT_CONCURRENCY, cfg.latency, cfg.idle_ticks, with_change, log_dir))
    sweep = []
    for value in cfg.sweep:
        reuse = next((t for t in ticks if t["targets"] == cfg.sweep_targets and t["concurrency"] == value), None)
        if reuse is None:
            progress(f"concurrency sweep: {cfg.sweep_targets} targets, concurrency {value}")
            reuse = tick_run(found.tick, cfg.sweep_targets, value, cfg.latency, cfg.idle_ticks, False, log_dir)
        sweep.append(reuse)
    progress("emulator without latency (its own capacity)")
    floor = tick_run(found.tick, cfg.sweep_targets, max(cfg.sweep), 0.0, cfg.idle_ticks, False, log_dir)
    report["ticks"] = {
        "runtime": found.tick.label,
        "latency_s": cfg.latency,
        "concurrency": DEFAULT_CONCURRENCY,
        "sizes": ticks,
        "sweep": sweep,
        "no_latency": floor,
        "recommended_concurrency": recommend(sweep),
    }
    report["fc_cpu"] = fc_cpu(cfg, found, DEFAULT_CONCURRENCY, log_dir, progress)
    fc_sweep = [t for t in report["fc_cpu"].get("ticks", []) if t["targets"] == cfg.fc_sizes[-1]]
    report["concurrency"] = concurrency_choice(
        DEFAULT_CONCURRENCY, report["ticks"]["recommended_concurrency"], fc_sweep, cfg.fc_cpu
    )

    calls_run = next((t for t in ticks if "change" in t["ticks"]), ticks[-1])
    report["calls"] = calls_section(calls_run, ticks)
    report["memory"] = [
        {"targets": t["targets"], "concurrency": t["concurrency"], "peak_rss_mb": t["peak_rss_mb"]}
        for t in ticks + [t for t in sweep if t not in ticks]
    ]

    # 5. package
    if found.build is not None:
        out = Path(found.build["out"])
        report["package"] = package_summary(package_from_zip(out / ZIP_NAME, out / "package"))
        report["package"]["mode"] = found.build["mode"]
        report["package"]["build_seconds"] = found.build["seconds"]
    else:
        report["package"] = package_summary(package_from_venv())

    # 6. cost
    report["cost"] = cost_section(ticks, report["cold_start"][0], report["fc_cpu"], DEFAULT_CONCURRENCY)
    if found.source_build is not None:
        sources_zip = Path(found.source_build["out"]) / ZIP_NAME
        report["package"]["zipped_bytes_sources_only"] = sources_zip.stat().st_size

    # 7. warm connections
    progress("connections a warm instance opens (bench/warm_connections.py)")
    report["warm_connections"] = warm_connections(cfg.quick)

    # 8. scale: thousands of targets, again at --fc-cpu's share when a cgroup can be made (never in --quick)
    scale_vcpu = cfg.fc_cpu if not cfg.quick else 0.0
    report["scale"] = scale_section(found.tick, cfg.scale_sizes, cfg.latency, scale_vcpu, cfg.quick, log_dir, progress)

    # 9. channels
    report["channels"] = channels_section(found.tick, cfg.channel_runs, log_dir, progress)

    # 10. the daily summary over many targets (one state read, one request per channel)
    summary_targets = 50 if cfg.quick else 1000
    progress(f"summary: {summary_targets} targets, five channels (bench/summary.py)")
    report["summary"] = summary_bench(targets=summary_targets)
    report["goals"] = goals(report)
    report["meta"]["seconds"] = time.monotonic() - started
    report["meta"]["load_average_at_end"] = os.getloadavg()
    return report
