"""Smoke test of the benchmark: `bench/run.py --quick` runs and reports every section.

No timing assertions: times on a shared CI machine are noise. What must hold on any machine is
asserted: the JSON has every section, the idle tick makes exactly one OpenSearch call per
target and writes nothing, and GET /healthz loads none of the cloud SDKs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_reports_every_section(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper() and not k.startswith("ALIYUN_")}
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"bench failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report = json.loads(out.read_text(encoding="utf-8"))

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
        "goals",
    ):
        assert section in report, section
    assert "| goal | measured | met |" in result.stdout

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
    assert "second tick (goal 0)" in result.stdout
