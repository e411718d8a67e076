"""`bench/scale.py` still runs alone, on the same functions as bench/run.py's scale section."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scale_runs_alone_and_reports_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper() and not k.startswith("ALIYUN_")}
    command = [sys.executable, str(ROOT / "bench" / "scale.py"), "--sizes", "8", "--fc-cpu", "0"]
    result = subprocess.run(  # noqa: S603
        [*command, "--discovery-groups", "1", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    (row,) = figures["idle"]
    assert row["targets"] == 8 and row["vcpu"] is None and row["fits"]
    assert row["idle_calls"]["opensearch"] == 8 and row["idle_calls"]["oss_writes"] == 0
    assert figures["discovery"]["app_groups"] == 1 and figures["discovery"]["listing_calls"] >= 1
    assert figures["first_tick"]["targets"] == 8 and figures["state_bytes_per_target"] > 0
    assert "| CPU | targets | idle tick |" in result.stdout and "| goal | measured | met |" in result.stdout
    assert "not measured (disabled (--fc-cpu 0))" in result.stdout
