"""Section 1: cold starts, each a fresh process of bench/cold_child.py, timed from spawn to exit."""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench.common import COLD_CHILD, HEALTHZ_UNWANTED, child_env, settings_env
from bench.runtimes import Runtime

# The variants of bench/cold_child.py (its VARIANTS), in the order of the report.
COLD_VARIANTS = {
    "python": "interpreter only (floor)",
    "requests": "baseline: import requests",
    "sdk": "baseline: SDKs a tick needs (aliyunsdkcore client+request, alibabacloud_oss_v2, requests)",
    "index": "import handler/index.py (what FC loads before any event)",
    "index_tick": "index + everything a timer tick imports (clients built, no network)",
    "healthz": "index + one GET /healthz through index.handler",
}


def run_cold_child(runtime: Runtime, variant: str) -> dict[str, Any]:
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603
        runtime.command(str(COLD_CHILD), variant, ",".join(HEALTHZ_UNWANTED), *runtime.paths),
        capture_output=True,
        text=True,
        env=child_env(settings_env()),
        cwd=tempfile.gettempdir(),
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - started
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"cold-start child {variant} on {runtime.key} failed:\n{result.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(line[len("BENCH ") :])
    data["process_s"] = wall
    return data


def cold_start(runtime: Runtime, runs: int, progress: Callable[[str], None], *, warm_up: bool = True) -> dict[str, Any]:
    """Each variant ``runs`` times, interleaved in a shuffled order per round (drift hits all alike)."""
    variants = list(COLD_VARIANTS)
    samples: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for v in variants if warm_up else ():  # warm-up round, not counted: page cache, first-touch effects
        run_cold_child(runtime, v)
    rng = random.Random(7)
    for round_no in range(runs):
        order = variants[:]
        rng.shuffle(order)
        for v in order:
            samples[v].append(run_cold_child(runtime, v))
        progress(f"cold start {runtime.key}: round {round_no + 1}/{runs}")
    out: dict[str, Any] = {"runtime": runtime.label, "key": runtime.key, "runs": runs, "variants": {}}
    for v in variants:
        process = [s["process_s"] for s in samples[v]]
        imports = [s["import_s"] for s in samples[v]]
        out["variants"][v] = {
            "label": COLD_VARIANTS[v],
            "process_median_s": statistics.median(process),
            "process_min_s": min(process),
            "process_max_s": max(process),
            "process_all_s": process,
            "import_median_s": statistics.median(imports),
            "modules": samples[v][-1]["modules"],
            "rss_mb": max(s["rss_mb"] for s in samples[v]),
        }
        if v == "index_tick":
            out["timer_path_modules"] = samples[v][-1].get("taskwatch_modules", [])
            out["timer_path_notifiers"] = samples[v][-1].get("notifier_modules", [])
        if v == "healthz":
            last = samples[v][-1]
            out["healthz"] = {
                "status": last.get("status"),
                "body": last.get("body"),
                "sdk_loaded": sorted({m for s in samples[v] for m in s.get("sdk_loaded", [])}),
            }
    med = {v: out["variants"][v]["process_median_s"] for v in variants}
    out["ratios"] = {
        "index_tick/sdk": med["index_tick"] / med["sdk"],
        "index_tick/requests": med["index_tick"] / med["requests"],
        "index/sdk": med["index"] / med["sdk"],
        "index/requests": med["index"] / med["requests"],
        "healthz/requests": med["healthz"] / med["requests"],
    }
    low = {v: out["variants"][v]["process_min_s"] for v in variants}
    out["ratios_of_minimums"] = {
        "index_tick/sdk": low["index_tick"] / low["sdk"],
        "index/sdk": low["index"] / low["sdk"],
    }
    return out
