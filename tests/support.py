"""Shared test helpers: FC context objects, fixed credentials, env helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
AK_ID = "STS.NTestAccessKeyId"
AK_SECRET = "TestAccessKeySecret-do-not-log"
STS_TOKEN = "TestSecurityToken-do-not-log"
DINGTALK_SECRET = "SECtest-dingtalk-secret-do-not-log"


@dataclass
class Credentials:
    access_key_id: str = AK_ID
    access_key_secret: str = AK_SECRET
    security_token: str = STS_TOKEN


@dataclass
class Function:
    name: str = "taskwatch"
    handler: str = "index.handler"
    memory: int = 128
    timeout: int = 120


@dataclass
class Context:
    """FC's context object: python3.10 has .credentials; python3.12 passes credentials in env vars."""

    request_id: str = "req-0001"
    region: str = "cn-hangzhou"
    account_id: str = "1234567890"
    function: Function = field(default_factory=Function)
    credentials: Credentials | None = None


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def decode(answer: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(answer)
    return data
