"""Section 6: what a month of one tick a minute costs on FC 3.0, from the measured ticks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# --- FC 3.0 pricing (assumptions; see bench/README.md "Cost") ------------------------------------
TICKS_PER_MONTH = 60 * 24 * 30  # one tick per minute, 30-day month
FC_MEMORY_GB = 0.125  # s.yaml memorySize 128
FC_VCPU = 0.1  # s.yaml cpu 0.1
CU_PER_INVOCATION = 75 / 10_000  # FC 3.0 conversion factors (since 2024-08-27)
CU_PER_VCPU_S = 1.0
CU_PER_GB_S = 0.15
USD_PER_CU = 0.000020  # tier 1 (first 100 million CU a month), list price


def cost_row(label: str, tick_s: float, cpu_s: float, measured_fc_s: float | None = None) -> dict[str, Any]:
    """FC 3.0 CU for a month of one tick a minute at 128 MB / 0.1 vCPU. The billed duration is the tick
    measured under a 0.1 vCPU cgroup when there is one, else projected from this machine's figures
    (CPU-bound work takes 1/0.1 = 10x longer on 0.1 vCPU)."""
    projected = max(tick_s, cpu_s / FC_VCPU)
    billed = measured_fc_s if measured_fc_s is not None else projected
    invocations = TICKS_PER_MONTH
    gb_s = FC_MEMORY_GB * billed * invocations
    vcpu_s = FC_VCPU * billed * invocations
    cu = invocations * CU_PER_INVOCATION + vcpu_s * CU_PER_VCPU_S + gb_s * CU_PER_GB_S
    return {
        "label": label,
        "tick_s_here": tick_s,
        "cpu_s_per_tick": cpu_s,
        "tick_s_projected_0_1_vcpu": projected,
        "tick_s_measured_0_1_vcpu": measured_fc_s,
        "billed_s": billed,
        "invocations_per_month": invocations,
        "gb_s_per_month": gb_s,
        "vcpu_s_per_month": vcpu_s,
        "cu_per_month": cu,
        "usd_per_month": cu * USD_PER_CU,
    }


def cost_section(
    ticks: Sequence[dict[str, Any]], cold: dict[str, Any], fc_cpu: dict[str, Any], concurrency: int
) -> dict[str, Any]:
    """A row per tick size (the idle tick) and a worst case: the largest size with every tick a cold start.

    ``cold`` is the first cold-start section (the package as shipped, or the venv); ``fc_cpu`` the
    section measured under the 0.1 vCPU limit, whose figures are billed where it has them.
    """
    section: dict[str, Any] = {
        "assumptions": {
            "ticks_per_month": TICKS_PER_MONTH,
            "memory_gb": FC_MEMORY_GB,
            "vcpu": FC_VCPU,
            "cu_per_invocation": CU_PER_INVOCATION,
            "cu_per_vcpu_s": CU_PER_VCPU_S,
            "cu_per_gb_s": CU_PER_GB_S,
            "usd_per_cu": USD_PER_CU,
        },
        "rows": [],
    }
    fc_ticks = {t["targets"]: t for t in fc_cpu.get("ticks", []) if t["concurrency"] == concurrency}
    for t in ticks:
        fc = fc_ticks.get(t["targets"])
        section["rows"].append(
            cost_row(f"{t['targets']} targets, idle tick", t["idle_s"], t["idle_cpu_s"], fc["idle_s"] if fc else None)
        )
    worst = ticks[-1]
    fc_cold = fc_cpu.get("cold_start", [])
    fc_worst = fc_ticks.get(worst["targets"])
    measured_cold = (
        fc_cold[0]["variants"]["index_tick"]["process_median_s"] + fc_worst["idle_s"] if fc_cold and fc_worst else None
    )
    section["rows"].append(
        cost_row(
            f"{worst['targets']} targets, every tick a cold start (as shipped: process start + imports + tick)",
            cold["variants"]["index_tick"]["process_median_s"] + worst["idle_s"],
            cold["variants"]["index_tick"]["process_median_s"] + worst["idle_cpu_s"],
            measured_cold,
        )
    )
    return section
