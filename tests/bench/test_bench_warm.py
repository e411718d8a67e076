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
    snapshot.write_text("# results\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    command = [sys.executable, str(ROOT / "bench" / "warm_connections.py"), "--targets", "5"]
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
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["second"] == {"opensearch": 0, "oss": 0, "dingtalk": 0}
    assert all(figures["first"].values()) and figures["messages"] == 2
    # The latency makes every read of a tick overlap: one connection per target, in both ticks.
    assert figures["first"]["opensearch"] == 5
    assert "second tick (goal 0)" in snapshot.read_text(encoding="utf-8")
