"""The environment a test starts from, and setting variables for one test."""

from __future__ import annotations

import os

import pytest

# taskwatch's own settings, the robot's, the cloud credentials (ALIYUN_* ones aliyunsdkcore would
# sign with instead of the key it is given) and FC's runtime variables.
CLEANED_PREFIXES = ("TASKWATCH_", "DINGTALK_", "ALIBABA_CLOUD_", "ALIYUN_", "FC_")


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove the developer's settings, credentials and proxies (any *PROXY* variable: the SDKs
    would send even loopback calls through one) for the rest of the test."""
    for name in list(os.environ):
        if name.startswith(CLEANED_PREFIXES) or "PROXY" in name.upper():
            monkeypatch.delenv(name, raising=False)


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
