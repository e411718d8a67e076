"""The warm-connections measurement runs and finds what the goal says: 0 new connections on tick 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_warm_connections_reports_zero_on_the_second_tick(tmp_path: Path) -> None:
    out, snapshot = tmp_path / "warm.json", tmp_path / "RESULTS.md"
    snapshot.write_text("# results\n\n<!-- warm-connections -->\nold figures\n<!-- /warm-connections -->\n", "utf-8")
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    command = [sys.executable, str(ROOT / "bench" / "warm_connections.py"), "--quick"]
    result = subprocess.run(  # noqa: S603
        [*command, "--json", str(out), "--snapshot", str(snapshot)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    one, busy = report["cases"]
    for case in report["cases"]:
        assert case["second"] == {"opensearch": 0, "oss": 0, "dingtalk": 0}, case
        assert all(case["first"].values()) and case["messages"] == 2 and case["emulator_errors"] == 0
    # The latencies make every read of a tick overlap: one connection per target, in both ticks.
    assert one["first"]["opensearch"] == one["targets"] == 5
    # More claims in flight than the 20 connections the OSS SDK's own pool would keep.
    assert busy["every_target_changes"] and busy["first"]["oss"] > 20
    assert report["met"] and report["goal"]["met"] and report["markdown"] in result.stdout
    text = snapshot.read_text(encoding="utf-8")
    assert "second tick (goal 0)" in text and "old figures" not in text and text.count("warm-connections -->") == 2
