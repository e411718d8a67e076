from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handler"))  # FC imports index.py from the code directory
sys.path.insert(0, str(ROOT / "tests"))  # tests/helpers, as `helpers`

import helpers.env  # noqa: E402
from helpers.fc import TIMER_EVENT  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's settings, proxies, or ALIYUN_* keys the SDK would swap in."""
    helpers.env.clean_env(monkeypatch)


@pytest.fixture
def timer_event() -> bytes:
    return TIMER_EVENT
