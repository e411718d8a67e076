"""The scale section of bench/run.py (section 8): bench/scale.py's figures, and their goal rows.

The measurements are bench/scale.py's ``scale_figures`` (``idle_row`` per size, once at full CPU and
once limited to FC's vCPU share when a cgroup can be had, then ``discovery_tick``), so the section
and the standalone command report the same figures; this module adds the run's sizes and goals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import SCALE_FIRST_GOAL_S, SCALE_GOAL_TARGETS, SCALE_IDLE_GOAL_S, SCALE_RSS_GOAL_MB
from bench.runtimes import Runtime
from bench.scale import DISCOVERY_GROUPS, scale_figures

QUICK_SIZES = (20, 50)
QUICK_DISCOVERY_GROUPS = 2


def scale_section(
    runtime: Runtime,
    sizes: Sequence[int],
    latency: float,
    fc_cpu: float,
    quick: bool,
    log_dir: Path,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    groups = QUICK_DISCOVERY_GROUPS if quick else DISCOVERY_GROUPS
    section = scale_figures(runtime, sizes, latency, fc_cpu, log_dir, progress, groups)
    if quick:
        section["fc_cpu"]["reason"] = "--quick runs no cgroup"
    section["goal_targets"] = goal_targets(sizes)
    return section


def goal_targets(sizes: Sequence[int]) -> int:
    """The goals are about 5,000 targets; a run without that size (--quick) checks its largest."""
    return SCALE_GOAL_TARGETS if SCALE_GOAL_TARGETS in sizes else max(sizes)


def _row(section: dict[str, Any], targets: int, limited: bool) -> dict[str, Any] | None:
    return next((r for r in section["idle"] if r["targets"] == targets and (r["vcpu"] is not None) == limited), None)


def scale_goals(section: dict[str, Any]) -> list[dict[str, Any]]:
    n = section["goal_targets"]
    out: list[dict[str, Any]] = []
    row = _row(section, n, limited=False)
    if row is None or "error" in row:
        failed = row["error"] if row else "not measured"
        return [{"goal": f"scale: {n:,} targets at full CPU", "value": failed, "met": False}]
    out.append(
        {
            "goal": f"idle tick, {n:,} targets, 50 ms/call, full CPU <= {SCALE_IDLE_GOAL_S:.0f} s",
            "value": f"{row['idle_s']:.2f} s",
            "met": row["idle_s"] <= SCALE_IDLE_GOAL_S,
        }
    )
    out.append(
        {
            "goal": f"peak RSS, {n:,} targets <= {SCALE_RSS_GOAL_MB:.0f} MB",
            "value": f"{row['peak_rss_mb']:.1f} MB",
            "met": row["peak_rss_mb"] <= SCALE_RSS_GOAL_MB,
        }
    )
    full = [r for r in section["idle"] if r["vcpu"] is None]
    out.append(
        {
            "goal": "idle tick at scale: 1 OpenSearch call/target, <= 2 OSS reads, 0 writes",
            "value": "; ".join(
                f"{r['targets']:,} targets: failed"
                if "error" in r
                else f"{r['targets']:,} targets: {r['opensearch_per_target']:g} OS/target, "
                f"{r['idle_calls']['oss_reads']} reads, {r['idle_calls']['oss_writes']} writes"
                for r in full
            ),
            "met": all(
                "error" not in r
                and r["idle_calls"]["opensearch"] == r["targets"]
                and r["idle_calls"]["oss_reads"] <= 2
                and r["idle_calls"]["oss_writes"] == 0
                for r in full
            ),
        }
    )
    limited = _row(section, n, limited=True)
    if limited is not None:
        vcpu = section["fc_cpu"]["vcpu"]
        goal = f"first tick, {n:,} targets, {vcpu} vCPU: every target read within {SCALE_FIRST_GOAL_S:.0f} s"
        if "error" in limited:
            out.append({"goal": goal, "value": f"failed: {limited['error']}", "met": False})
        else:
            unread = limited["first_read_failures"] or 0
            out.append(
                {
                    "goal": goal,
                    "value": f"{limited['first_s']:.1f} s"
                    + (f", {unread:,} targets not read in time" if unread else ""),
                    "met": limited["first_s"] <= SCALE_FIRST_GOAL_S and not unread,
                }
            )
    return out
