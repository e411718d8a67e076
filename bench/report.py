"""The report as Markdown: the goals table and one section per measurement (what bench/run.py prints)."""

from __future__ import annotations

from typing import Any

from bench.markdown import ms as _ms
from bench.markdown import s as _s
from bench.markdown import table
from bench.report_sections import render_channels, render_scale, render_summary


def render_cold(cold: dict[str, Any]) -> list[str]:
    return [
        "",
        f"{cold['runtime']} — {cold['runs']} runs each, interleaved:",
        "",
        table(
            ["process", "median", "min-max", "imports (in-process)", "modules", "peak RSS"],
            (
                (
                    x["label"],
                    _ms(x["process_median_s"]),
                    f"{x['process_min_s'] * 1000:.0f}-{x['process_max_s'] * 1000:.0f} ms",
                    _ms(x["import_median_s"]),
                    x["modules"],
                    f"{x['rss_mb']:.0f} MB",
                )
                for x in cold["variants"].values()
            ),
        ),
        "",
        "Ratios of medians: "
        + ", ".join(f"{k} = {r:.2f}x" for k, r in cold["ratios"].items())
        + f" (of minimums: index_tick/sdk = {cold['ratios_of_minimums']['index_tick/sdk']:.2f}x)."
        + f" /healthz: HTTP {cold['healthz']['status']}, "
        + f"SDK modules loaded: {cold['healthz']['sdk_loaded'] or 'none'}."
        + (
            " Notifier modules on the timer path (only DingTalk configured): "
            + (", ".join(m.removeprefix("taskwatch.notifiers.") for m in cold["timer_path_notifiers"]) or "none")
            + "."
            if "timer_path_notifiers" in cold
            else ""
        ),
    ]


def render_fc(fc: dict[str, Any]) -> list[str]:
    if not fc.get("available"):
        return ["", f"### 2b. On FC's CPU share ({fc['vcpu']} vCPU): not measured — {fc.get('reason')}"]
    parts = [
        "",
        f"### 2b. On FC's CPU share: the function process in a cgroup limited to {fc['vcpu']} vCPU "
        "(s.yaml `cpu: 0.1`; the emulator is not limited)",
    ]
    for cold in fc["cold_start"]:
        parts += render_cold(cold)
    parts += [
        "",
        f"Ticks ({fc['tick_runtime']}; 50 ms per OpenSearch call):",
        "",
        table(
            ["targets", "TASKWATCH_CONCURRENCY", "idle tick", "first tick", "CPU per idle tick", "peak RSS"],
            (
                (
                    t["targets"],
                    t["concurrency"],
                    _s(t["idle_s"]),
                    _s(t["first_s"]),
                    _ms(t["idle_cpu_s"]),
                    f"{t['peak_rss_mb']:.1f} MB",
                )
                for t in fc["ticks"]
            ),
        ),
    ]
    return parts


def render(report: dict[str, Any]) -> str:
    meta = report["meta"]
    parts = [
        f"Command: `{meta['command']}` — {meta['date_utc']} UTC, {meta['machine']}, "
        f"parent (emulator) Python {meta['parent_python']}, run took {meta['seconds']:.0f} s; load average "
        f"{meta['load_average_at_start'][0]:.1f} at start, {meta['load_average_at_end'][0]:.1f} at end "
        "(other work on the machine shows up as noise).",
        "",
        "### Goals",
        table(
            ["goal", "measured", "met"],
            ((g["goal"], g["value"], "yes" if g["met"] else "**no**") for g in report["goals"]),
        ),
        "",
        "### 1. Cold start (fresh process, median wall time from spawn to exit)",
    ]
    for cold in report["cold_start"]:
        parts += render_cold(cold)
    ticks = report["ticks"]
    parts += [
        "",
        f"### 2. Tick time ({ticks['latency_s'] * 1000:.0f} ms on every OpenSearch call, "
        f"TASKWATCH_CONCURRENCY={ticks['concurrency']}; {ticks['runtime']})",
        "",
        table(
            [
                "targets",
                "idle tick (tick time)",
                "/ one call's latency",
                "speed-up vs sequential",
                "first tick",
                "CPU per idle tick",
                "peak RSS",
            ],
            (
                (
                    t["targets"],
                    _s(t["idle_s"]),
                    f"{t['idle_over_latency']:.1f}x" if t["idle_over_latency"] else "-",
                    f"{t['speedup_vs_sequential']:.1f}x" if t["speedup_vs_sequential"] else "-",
                    _s(t["first_s"]),
                    _ms(t["idle_cpu_s"]),
                    f"{t['peak_rss_mb']:.1f} MB",
                )
                for t in ticks["sizes"]
            ),
        ),
        "",
        f"Concurrency sweep at {ticks['sweep'][0]['targets'] if ticks['sweep'] else '-'} targets:",
        "",
        table(
            ["TASKWATCH_CONCURRENCY", "idle tick", "first tick", "CPU per idle tick", "peak RSS"],
            (
                (
                    t["concurrency"],
                    _s(t["idle_s"]),
                    _s(t["first_s"]),
                    _ms(t["idle_cpu_s"]),
                    f"{t['peak_rss_mb']:.1f} MB",
                )
                for t in ticks["sweep"]
            ),
        ),
        "",
        f"Fastest here (full CPU): {ticks['recommended_concurrency'].get('concurrency')} "
        f"({ticks['recommended_concurrency'].get('rule')}); see 2b for FC's 0.1 vCPU.",
    ]
    floor = ticks["no_latency"]
    per_request = floor["emulator_cpu_s_per_request"]
    parts += [
        f"Without latency ({floor['targets']} targets, concurrency {floor['concurrency']}): idle tick "
        f"{_s(floor['idle_s'])}, function CPU {_ms(floor['idle_cpu_s'])}; the emulator spends "
        f"{per_request * 1000:.2f} ms CPU per OpenSearch request (≈ {1 / per_request:.0f} req/s on one core)."
        if per_request
        else "",
    ]
    parts += render_fc(report["fc_cpu"])
    choice = report["concurrency"]
    parts += [
        "",
        f"**TASKWATCH_CONCURRENCY default**: now {choice['default']}; by the {choice['basis']} the best is "
        f"{choice['recommended']} → {'change it' if choice['change_needed'] else 'keep it'}.",
    ]
    calls = report["calls"]
    rows = []
    for name in ("first", "idle", "change"):
        if name in calls:
            c = calls[name]
            methods = ", ".join(f"{m} {n}" for m, n in sorted(c["oss_by_method"].items()))
            rows.append((name, c["opensearch"], c["oss_reads"], c["oss_writes"], f"{methods or '-'}", c["dingtalk"]))
    parts += [
        "",
        f"### 3. Calls per tick ({calls['targets']} targets: half pinned `@generation`, half `@latest`)",
        "",
        table(["tick", "OpenSearch", "OSS reads", "OSS writes", "OSS by method", "DingTalk"], rows),
        "",
        "Idle tick at every size: "
        + "; ".join(
            f"{k} targets → {v['opensearch']} OS, {v['oss_reads']} OSS reads, {v['oss_writes']} writes, "
            f"{v['dingtalk']} DingTalk"
            for k, v in calls["idle_by_size"].items()
        )
        + ".",
        "",
        "### 4. Memory (peak RSS of the function process: interpreter + imports + ticks)",
        "",
        table(
            ["targets", "concurrency", "peak RSS"],
            ((m["targets"], m["concurrency"], f"{m['peak_rss_mb']:.1f} MB") for m in report["memory"]),
        ),
    ]
    package = report["package"]
    parts += [
        "",
        f"### 5. Code package ({package['source']})",
        "",
        f"Zipped {package['zipped_bytes'] / 1e6:.2f} MB ({package['zipped_bytes'] / 2**20:.2f} MiB), "
        f"unzipped {package['unzipped_bytes'] / 1e6:.2f} MB, {package['files']} files. Five largest dependencies:",
        "",
        table(
            ["distribution", "unzipped", "zipped", "files"],
            (
                (d["name"], f"{d['bytes'] / 1e6:.2f} MB", f"{d['zipped_bytes'] / 1e6:.2f} MB", d["files"])
                for d in package["largest"]
            ),
        ),
        "",
        f"Our own code: {package['distributions'].get('taskwatch (our code)', {}).get('zipped_bytes', 0) / 1e3:.0f} kB "
        "zipped."
        + (
            f" Built ({package['mode']})"
            + (f" in {package['build_seconds']:.1f} s" if package.get("build_seconds") else "")
            + "; the sources-only package (`--no-bytecode`) is "
            f"{package['zipped_bytes_sources_only'] / 1e6:.2f} MB zipped."
            if package.get("zipped_bytes_sources_only")
            else ""
        ),
    ]
    cost = report["cost"]
    a = cost["assumptions"]
    parts += [
        "",
        f"### 6. Cost a month (one tick a minute = {a['ticks_per_month']:,} invocations; 128 MB, 0.1 vCPU)",
        "",
        table(
            [
                "case",
                "tick here",
                "CPU/tick here",
                "tick at 0.1 vCPU: measured / projected",
                "GB-s",
                "vCPU-s",
                "CU",
                "USD (list)",
            ],
            (
                (
                    r["label"],
                    _s(r["tick_s_here"]),
                    _ms(r["cpu_s_per_tick"]),
                    f"{_s(r['tick_s_measured_0_1_vcpu'])} / {_s(r['tick_s_projected_0_1_vcpu'])}",
                    f"{r['gb_s_per_month']:,.0f}",
                    f"{r['vcpu_s_per_month']:,.0f}",
                    f"{r['cu_per_month']:,.0f}",
                    f"{r['usd_per_month']:.2f}",
                )
                for r in cost["rows"]
            ),
        ),
        "",
        "Billed duration = the measured 0.1 vCPU tick where there is one, else the projection "
        "max(tick here, CPU here / 0.1). "
        f"CU = invocations x {a['cu_per_invocation']} + vCPU-s x {a['cu_per_vcpu_s']} + GB-s x {a['cu_per_gb_s']}; "
        f"USD {a['usd_per_cu']}/CU (tier 1). Free tier: see bench/README.md (FC 3.0 has a trial CU quota for "
        "new accounts, no permanent monthly free tier).",
    ]
    if "warm_connections" in report:
        parts += ["", report["warm_connections"]["markdown"]]
    if "scale" in report:
        parts += render_scale(report["scale"])
    if "channels" in report:
        parts += render_channels(report["channels"])
    if "summary" in report:
        parts += render_summary(report["summary"])
    return "\n".join(parts) + "\n"
