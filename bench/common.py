"""What every part of the benchmark shares: paths, the goals, the child processes' environment."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
SNAPSHOT = BENCH / "RESULTS.md"
COLD_CHILD = BENCH / "cold_child.py"
TICK_CHILD = BENCH / "tick_child.py"
WARM = BENCH / "warm_connections.py"
HANDLER = REPO / "handler"
BUILD_SCRIPT = REPO / "infra" / "build_package.py"
PIP_CACHE = REPO / ".cache" / "pip"

# --- goals the report checks ---------------------------------------------------------------------
COLD_RATIO_GOAL = 1.15  # cold start (index + what a tick imports) / SDK-only baseline
TICK_GOALS_S = {100: 0.5, 500: 2.5}
RSS_GOAL_MB = 80.0
ZIP_GOAL_MB = 12.0
# Scale (bench/scale_section.py): an idle tick over this many targets, 50 ms per call, full CPU.
SCALE_GOAL_TARGETS = 5000
SCALE_IDLE_GOAL_S = 20.0
SCALE_RSS_GOAL_MB = 100.0
SCALE_FIRST_GOAL_S = 180.0  # FC's timeout in s.yaml: the first tick at 0.1 vCPU must end within it
SDK_MODULES = ("aliyunsdkcore", "alibabacloud_oss_v2", "requests")
# What GET /healthz must not import: the SDKs and the heavy libraries under them.
HEALTHZ_UNWANTED = tuple(sorted({*SDK_MODULES, "urllib3", "cryptography"}))

CREDENTIALS = {
    "access_key_id": "STS.BenchAccessKeyId",
    "access_key_secret": "bench-secret",
    "security_token": "bench-sts",
}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: no proxies (the SDK would send loopback calls through them), no ALIYUN_* keys."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC", "HOME": tempfile.gettempdir()}
    env.update(extra or {})
    return env


def settings_env() -> dict[str, str]:
    """Settings a tick's clients can be built from without any network."""
    return {
        "TASKWATCH_TARGETS": "bench_app/fn0/inst0@1700000000",
        "TASKWATCH_STATE": "oss://bench-state/tw",
        "TASKWATCH_REGION": "cn-hangzhou",
        "TASKWATCH_OPENSEARCH_ENDPOINT": "http://127.0.0.1:9",
        "TASKWATCH_OSS_ENDPOINT": "http://127.0.0.1:9",
        "DINGTALK_WEBHOOK": "http://127.0.0.1:9/robot/send?access_token=bench",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": CREDENTIALS["access_key_id"],
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": CREDENTIALS["access_key_secret"],
        "ALIBABA_CLOUD_SECURITY_TOKEN": CREDENTIALS["security_token"],
    }


def bench_emulator() -> Any:
    """The emulator every bench run talks to: the bench's keys, a signing robot."""
    from taskwatch_emulator import Emulator

    return Emulator(
        access_key_id=CREDENTIALS["access_key_id"],
        access_key_secret=CREDENTIALS["access_key_secret"],
        security_token=CREDENTIALS["security_token"],
        dingtalk_secret="SECbench-robot-secret",
    )
