"""Smoke test of the benchmark: `bench/run.py --quick` runs and reports every section.

No timing assertions: times on a shared CI machine are noise. What must hold on any machine is
asserted: the JSON has every section, the idle tick makes exactly one OpenSearch call per
target and writes nothing (at every size, the scale section's too), GET /healthz loads none of
the cloud SDKs, every platform's digest fits its budget, and three channels get one request each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """One `bench/run.py --quick` for every test here (it takes half a minute): its JSON and its stdout."""
    out = tmp_path_factory.mktemp("bench") / "latest.json"
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper() and not k.startswith("ALIYUN_")}
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"bench failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return report, result.stdout


def test_quick_bench_reports_every_section(quick_run: tuple[dict[str, Any], str]) -> None:
    report, stdout = quick_run
    for section in (
        "meta",
        "cold_start",
        "ticks",
        "fc_cpu",
        "concurrency",
        "calls",
        "memory",
        "package",
        "cost",
        "warm_connections",
        "scale",
        "channels",
        "goals",
    ):
        assert section in report, section
    assert "| goal | measured | met |" in stdout

    cold = report["cold_start"][0]
    for variant in ("python", "requests", "sdk", "index", "index_tick", "healthz"):
        assert cold["variants"][variant]["process_median_s"] > 0
    assert {"index_tick/sdk", "index/sdk", "index/requests"} <= set(cold["ratios"])
    assert cold["healthz"]["status"] == 200
    assert cold["healthz"]["sdk_loaded"] == []
    assert "taskwatch.tick" in cold["timer_path_modules"]
    assert not [m for m in cold["timer_path_modules"] if m.startswith(("taskwatch_emulator", "taskwatch.cli"))]

    ticks = report["ticks"]
    assert [t["targets"] for t in ticks["sizes"]] == report["meta"]["config"]["sizes"]
    for run in ticks["sizes"]:
        assert run["idle_s"] > 0 and run["first_s"] > 0 and run["peak_rss_mb"] > 0
        assert set(run["sdk_modules_loaded_by_ticks"]) == {"aliyunsdkcore", "alibabacloud_oss_v2", "requests"}
    assert ticks["recommended_concurrency"]["concurrency"] in report["meta"]["config"]["sweep"]
    assert report["concurrency"]["recommended"] in report["meta"]["config"]["sweep"]

    calls = report["calls"]
    for size, idle in calls["idle_by_size"].items():
        assert idle["opensearch"] == int(size)
        assert idle["oss_writes"] == 0 and idle["dingtalk"] == 0 and idle["oss_reads"] <= 2
    assert calls["change"]["dingtalk"] == 1 and calls["change_sent"] == 1

    assert report["package"]["zipped_bytes"] > 0 and len(report["package"]["largest"]) == 5
    assert report["cost"]["rows"] and all(r["cu_per_month"] > 0 for r in report["cost"]["rows"])
    assert all({"goal", "value", "met"} <= set(goal) for goal in report["goals"])
    assert report["warm_connections"]["goal"] in report["goals"] and report["warm_connections"]["met"]
    assert "second tick (goal 0)" in stdout

    # Only DingTalk is configured for the cold start: the row says which notifier modules loaded.
    assert "taskwatch.notifiers.dingtalk" in cold["timer_path_notifiers"]
    notifier_goal = next(g for g in report["goals"] if g["goal"].startswith("timer path with only DingTalk"))
    assert "dingtalk" in notifier_goal["value"]


def check_scale(report: dict[str, Any], stdout: str) -> None:
    scale = report["scale"]
    assert scale["sizes"] == report["meta"]["config"]["scale_sizes"] == [20, 50]
    assert not scale["fc_cpu"]["available"]  # --quick makes no cgroup
    assert [r["targets"] for r in scale["idle"]] == [20, 50]
    for row in scale["idle"]:
        assert row["vcpu"] is None and row["fits"], row
        assert row["idle_calls"]["opensearch"] == row["targets"] and row["opensearch_per_target"] == 1
        assert row["idle_calls"]["oss_reads"] <= 2 and row["idle_calls"]["oss_writes"] == 0
        assert row["idle_s"] > 0 and row["first_s"] > 0 and 0 < row["peak_rss_mb"] < 1000
        # One claim for all the "now watching" changes of a channel: the writes do not grow with the targets.
        assert 0 < row["first_writes"] < row["targets"]
    assert scale["idle"][0]["first_writes"] == scale["idle"][1]["first_writes"]
    assert 50 < scale["state_bytes_per_target"] < 5000
    assert (
        scale["first_tick"]["targets"] == 50 and scale["first_tick"]["oss_writes"] == scale["idle"][1]["first_writes"]
    )
    discovery = scale["discovery"]
    assert discovery["app_groups"] == 2 and discovery["targets"] == 2 * 9 * 3
    assert discovery["listing_calls"] >= discovery["app_groups"] and discovery["wall_s"] > 0
    goals = {g["goal"]: g for g in report["goals"]}
    assert "idle tick, 50 targets, 50 ms/call, full CPU <= 20 s" in goals
    assert "peak RSS, 50 targets <= 100 MB" in goals
    assert goals["idle tick at scale: 1 OpenSearch call/target, <= 2 OSS reads, 0 writes"]["met"]
    assert not [g for g in goals if g.startswith("first tick,")]  # needs the cgroup
    assert "### 8. Scale" in stdout and "`state.json`" in stdout


def check_channels(report: dict[str, Any], stdout: str) -> None:
    digests = {d["platform"]: d for d in report["channels"]["digests"]}
    assert list(digests) == ["dingtalk", "wecom", "feishu", "lark", "slack", "webhook"]
    for platform, digest in digests.items():
        assert digest["changes"] == 300 and digest["render_ms"] > 0 and digest["body_bytes"] > 0, platform
        assert digest["within_budget"] and digest["accepted"] and 0 < digest["shown"] <= 300, digest
        # WeCom's markdown cannot ping: an urgent digest is followed by a mention text.
        assert digest["requests"] == (2 if platform == "wecom" else 1), digest
    assert digests["dingtalk"]["budget_bytes"] == 20_000 and digests["wecom"]["budget_bytes"] == 4_096
    assert digests["dingtalk"]["shown"] < 300  # cut to the budget, the rest as "+N more"
    assert digests["webhook"]["budget_bytes"] is None and digests["webhook"]["shown"] == 300
    tick = report["channels"]["tick"]
    assert tick["change_met"] and tick["idle_met"] and tick["emulator_errors"] == 0
    change = tick["ticks"]["change"]
    assert change["chat"] == {"wecom": 2, "feishu": 1, "slack": 1} and change["dingtalk"] == 0
    assert change["changes"] == tick["failing"] and change["oss_writes"] > 0
    assert tick["ticks"]["first"]["chat"] == {"wecom": 1, "feishu": 1, "slack": 1}
    for name in ("idle", "idle_after"):
        idle = tick["ticks"][name]
        assert idle["oss_writes"] == 0 and not any(idle["chat"].values()) and idle["opensearch"] == tick["targets"]
    assert "### 9. Channels" in stdout


def test_quick_bench_reports_scale_and_channels(quick_run: tuple[dict[str, Any], str]) -> None:
    report, stdout = quick_run
    check_scale(report, stdout)
    check_channels(report, stdout)
