"""What the measurements mean: the TASKWATCH_CONCURRENCY pick, the calls per tick, the goals table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.common import COLD_RATIO_GOAL, HANDLER, RSS_GOAL_MB, TICK_GOALS_S, ZIP_GOAL_MB
from bench.scale_section import scale_goals

NOTIFIERS = "taskwatch.notifiers"


def recommend(sweep: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The smallest pool within 10% of the fastest idle tick: more threads buy nothing past that."""
    if not sweep:
        return {}
    best = min(t["idle_s"] for t in sweep)
    pick = min((t for t in sweep if t["idle_s"] <= best * 1.10), key=lambda t: t["concurrency"])
    return {
        "concurrency": pick["concurrency"],
        "rule": "smallest value whose idle tick is within 10% of the fastest",
        "idle_s": {str(t["concurrency"]): t["idle_s"] for t in sweep},
    }


def calls_section(run: dict[str, Any], all_runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ticks = run["ticks"]
    section: dict[str, Any] = {"targets": run["targets"], "first": ticks["first"]["calls"]}
    section["idle"] = ticks["idle1"]["calls"]
    if "change" in ticks:
        section["change"] = ticks["change"]["calls"]
        section["change_sent"] = ticks["change"]["sent"]
    section["idle_by_size"] = {
        str(r["targets"]): {
            "opensearch": r["ticks"]["idle1"]["calls"]["opensearch"],
            "oss_reads": r["ticks"]["idle1"]["calls"]["oss_reads"],
            "oss_writes": r["ticks"]["idle1"]["calls"]["oss_writes"],
            "dingtalk": r["ticks"]["idle1"]["calls"]["dingtalk"],
        }
        for r in all_runs
    }
    section["met"] = all(
        v["opensearch"] == int(k) and v["oss_reads"] <= 2 and v["oss_writes"] == 0 and v["dingtalk"] == 0
        for k, v in section["idle_by_size"].items()
    )
    return section


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cold = report["cold_start"][0]
    ratio = cold["ratios"]["index_tick/sdk"]
    out.append(
        {
            "goal": f"cold start: index + tick imports <= {COLD_RATIO_GOAL}x SDK baseline ({cold['key']})",
            "value": f"{ratio:.2f}x",
            "met": ratio <= COLD_RATIO_GOAL,
        }
    )
    off_path = ("taskwatch_emulator", "taskwatch.cli", "taskwatch.http_api", "taskwatch.serve", "taskwatch.policy")
    if "timer_path_modules" in cold:
        loaded = [m for m in cold["timer_path_modules"] if m.startswith(off_path)]
        out.append(
            {
                "goal": "timer cold path loads no emulator, CLI or HTTP router",
                "value": f"{len(cold['timer_path_modules'])} taskwatch modules; off-path ones: {loaded or 'none'}",
                "met": not loaded,
            }
        )
    if "timer_path_notifiers" in cold:
        out.append(notifier_goal(cold["timer_path_notifiers"]))
    healthz = cold.get("healthz", {})
    out.append(
        {
            "goal": "GET /healthz answered 200 without importing the SDKs",
            "value": f"HTTP {healthz.get('status')}, SDK modules loaded: {healthz.get('sdk_loaded') or 'none'}",
            "met": healthz.get("status") == 200 and not healthz.get("sdk_loaded"),
        }
    )
    for size, limit in TICK_GOALS_S.items():
        run = next((t for t in report["ticks"]["sizes"] if t["targets"] == size), None)
        if run is not None:
            out.append(
                {
                    "goal": f"idle tick, {size} targets, 50 ms/call <= {limit} s",
                    "value": f"{run['idle_s']:.3f} s",
                    "met": run["idle_s"] <= limit,
                }
            )
    calls = report["calls"]
    idle = calls["idle"]
    out.append(
        {
            "goal": "idle tick: 1 OpenSearch call/target, <= 2 OSS reads, 0 writes, 0 DingTalk",
            "value": f"{idle['opensearch']} OS / {calls['targets']} targets, {idle['oss_reads']} reads, "
            f"{idle['oss_writes']} writes, {idle['dingtalk']} DingTalk",
            "met": calls["met"],
        }
    )
    for mem in report["memory"]:
        if mem["targets"] in (100, 500) or report["meta"]["quick"]:
            out.append(
                {
                    "goal": f"peak RSS, {mem['targets']} targets (concurrency {mem['concurrency']}) "
                    f"<= {RSS_GOAL_MB:.0f} MB",
                    "value": f"{mem['peak_rss_mb']:.1f} MB",
                    "met": mem["peak_rss_mb"] <= RSS_GOAL_MB,
                }
            )
    if "scale" in report:
        out += scale_goals(report["scale"])
    package = report["package"]
    out.append(
        {
            "goal": f"code package zipped <= {ZIP_GOAL_MB:.0f} MB",
            "value": f"{package['zipped_mb']:.2f} MB" + ("" if package["exact"] else " (estimate)"),
            "met": package["met"],
        }
    )
    if "warm_connections" in report:
        out.append(report["warm_connections"]["goal"])
    return out


def platform_modules() -> list[str]:
    """The notifier module of each platform (the ``_``-modules are what they share)."""
    folder = HANDLER / "taskwatch" / "notifiers"
    return sorted(f"{NOTIFIERS}.{p.stem}" for p in folder.glob("*.py") if not p.stem.startswith("_"))


def notifier_goal(loaded: list[str]) -> dict[str, Any]:
    """The cold child configures DingTalk only: the timer path must not import another platform's module."""
    others = sorted(set(loaded) & set(platform_modules()) - {f"{NOTIFIERS}.dingtalk"})
    short = [m.removeprefix(f"{NOTIFIERS}.") for m in loaded if m != NOTIFIERS]
    return {
        "goal": "timer path with only DingTalk configured: no other notifier module loaded",
        "value": f"notifier modules: {', '.join(short) or 'none'}; other platforms: "
        + (", ".join(m.removeprefix(f"{NOTIFIERS}.") for m in others) or "none"),
        "met": not others,
    }


def concurrency_choice(
    default: int, full_pick: dict[str, Any], fc_sweep: Sequence[dict[str, Any]], fc_vcpu: float
) -> dict[str, Any]:
    """The TASKWATCH_CONCURRENCY to ship: the pick at FC's CPU share where it was measured, else at full CPU."""
    fc_pick = recommend(fc_sweep) if fc_sweep else None
    pick = (fc_pick or full_pick).get("concurrency")
    return {
        "default": default,
        "best_full_cpu": full_pick,
        "best_fc_cpu": fc_pick,
        "basis": f"{fc_vcpu} vCPU runs (what FC gives the function)" if fc_pick else "full-CPU runs",
        "recommended": pick,
        "change_needed": pick != default,
    }
