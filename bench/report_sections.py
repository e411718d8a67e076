"""Sections 8 and 9 of the report: scale (also what bench/scale.py prints alone) and channels."""

from __future__ import annotations

from typing import Any

from bench.markdown import ms as _ms
from bench.markdown import s as _s
from bench.markdown import table


def _calls(c: dict[str, Any]) -> str:
    return f"{c['opensearch']:,} OS, {c['oss_reads']} reads, {c['oss_writes']} writes"


def _s2(seconds: float) -> str:
    return f"{seconds:.2f} s"


def render_scale(scale: dict[str, Any], number: str = "8. ") -> list[str]:
    """Section 8 (also what bench/scale.py prints alone, without the number)."""
    rows = []
    for r in scale["idle"]:
        where = "full CPU" if r.get("vcpu") is None else f"{r['vcpu']} vCPU"
        if "error" in r:
            rows.append((where, f"{r['targets']:,}", f"failed: {r['error']}", "", "", "", "", "", ""))
            continue
        unread = f"{r['first_read_failures'] or 0:,} / {r['idle_read_failures'] or 0:,}"
        rows.append(
            (
                where,
                f"{r['targets']:,}",
                _s2(r["idle_s"]),
                _ms(r["idle_cpu_s"]),
                f"{r['peak_rss_mb']:.1f} MB",
                f"{r['opensearch_per_target']:g} OS/target, {r['idle_calls']['oss_reads']} reads, "
                f"{r['idle_calls']['oss_writes']} writes",
                _s2(r["first_s"]),
                f"{r['first_writes']:,}",
                unread,
            )
        )
    fc = scale["fc_cpu"]
    parts = [
        "",
        f"### {number}Scale: thousands of targets ({scale['latency_s'] * 1000:.0f} ms on every OpenSearch call, "
        f"default pool; {scale['runtime']})",
        "",
        table(
            [
                "CPU",
                "targets",
                "idle tick",
                "CPU per idle tick",
                "peak RSS",
                "idle tick's calls",
                "first tick",
                "first tick's OSS writes",
                "not read in time (first / idle)",
            ],
            rows,
        ),
        "",
    ]
    if not fc.get("available"):
        parts.append(f"On FC's CPU share: not measured ({fc.get('reason')}).")
    first = scale.get("first_tick")
    if first:
        by_method = ", ".join(f"{m} {n}" for m, n in sorted(first["oss_by_method"].items()))
        parts.append(
            f"`state.json`: {scale['state_bytes_per_target']} bytes per target (as stored; with a full history "
            f"of 20 progress samples, 10 finished runs and 20 metrics: {scale.get('state_bytes_full_history', '-')} "
            "bytes). First tick at "
            f"{first['targets']:,} targets (full CPU): {_s2(first['wall_s'])}, {first['oss_writes']} OSS writes "
            f"({by_method or '-'})."
        )
    d = scale["discovery"]
    parts.append(
        f"Discovery tick, {d['app_groups']} app group{'s' if d['app_groups'] != 1 else ''} x {d['functions']} "
        f"function names ({d['targets']} instances, nothing new): {_s2(d['wall_s'])}, {d['listing_calls']} "
        f"listing calls, {d['opensearch_calls']} OpenSearch calls in all, {d['oss_reads']} OSS reads, "
        f"{d['oss_writes']} OSS writes."
    )
    return parts


def render_channels(channels: dict[str, Any]) -> list[str]:
    """Section 9: each platform's 300-change digest, and ticks with three channels configured."""
    digests = channels["digests"]
    tick = channels["tick"]
    size, runs = (digests[0]["changes"], digests[0]["render_runs"]) if digests else ("-", "-")
    names = tick["channels"]
    rows = []
    for name in ("first", "idle", "change", "idle_after"):
        t = tick["ticks"][name]
        methods = ", ".join(f"{m} {n}" for m, n in sorted(t["oss_by_method"].items()))
        chat = [t["chat"][k] for k in names]
        rows.append((name, t["changes"], _calls(t), methods or "-", *chat, t["dingtalk"], _s(t["wall_s"])))
    expected = ", ".join(f"{k} {n}" for k, n in tick["expected_change_requests"].items())
    return [
        "",
        f"### 9. Channels: a {size}-change digest per platform (failures with errors and metrics, progress, "
        f"new runs; median of {runs} renders, in the parent's Python; the body as the emulator's fake received it)",
        "",
        table(
            ["platform", "render", "changes shown", "body", "budget", "within", "requests (bytes)", "accepted"],
            (
                (
                    d["platform"],
                    f"{d['render_ms']:.1f} ms",
                    f"{d['shown']} of {d['changes']}",
                    f"{d['body_bytes']:,} B" if d["body_bytes"] is not None else "-",
                    f"{d['budget_bytes']:,} B" if d["budget_bytes"] else "none",
                    "yes" if d["within_budget"] else "**no**",
                    " + ".join(f"{b:,}" for b in d["request_bytes"]) or "-",
                    "yes" if d["accepted"] else f"**no**: {d['error']}",
                )
                for d in digests
            ),
        ),
        "",
        f"Ticks with three channels ({', '.join(names)}) in one config file, {tick['targets']} targets "
        f"({tick['runtime']}); the change tick fails {tick['failing']} runs (urgent):",
        "",
        table(["tick", "changes", "calls", "OSS by method", *names, "DingTalk", "wall"], rows),
        "",
        f"Change tick: expected {expected} chat requests → {'as expected' if tick['change_met'] else '**not**'}; "
        f"idle ticks: 0 chat calls and 0 writes → {'as expected' if tick['idle_met'] else '**not**'}; "
        f"emulator errors: {tick['emulator_errors']}.",
    ]


def render_summary(summary: dict[str, Any]) -> list[str]:
    """Section 10: one summary event over many targets, then a second of the same hour."""
    rows = [
        (
            name,
            f"{e['wall_ms']:.0f} ms",
            e["opensearch"],
            e["oss_reads"],
            e["oss_writes"],
            sum(e["chat_requests"].values()),
            ", ".join(f"{k} {v}" for k, v in e["targets_shown"].items()) or "-",
        )
        for name, e in (("first event", summary["first"]), ("same hour again", summary["same_hour"]))
    ]
    return [
        "",
        f"### 10. The daily summary: {summary['targets']:,} targets, {len(summary['channels'])} channels "
        f"(state.json {summary['state_bytes']:,} B; in the parent's Python)",
        "",
        table(["event", "wall", "OpenSearch", "OSS reads", "OSS writes", "chat requests", "targets shown"], rows),
        "",
        f"Emulator errors: {len(summary['emulator_errors'])}. Command: `.venv/bin/python bench/summary.py`.",
    ]
