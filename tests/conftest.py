from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handler"))  # FC imports index.py from the code directory
sys.path.insert(0, str(ROOT / "tests"))

from support import EVENTS  # noqa: E402

SENSITIVE_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's settings, proxies, or ALIYUN_* keys the SDK would swap in."""
    for name in list(os.environ):
        if name.startswith(("TASKWATCH_", "DINGTALK_", "ALIBABA_CLOUD_", "ALIYUN_", "FC_")) or name in SENSITIVE_ENV:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def timer_event() -> bytes:
    return (EVENTS / "timer.json").read_bytes()
