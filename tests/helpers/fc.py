"""FC's side of an invocation: the context object and the events (timer and HTTP trigger)."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.creds import HTTP_TOKEN, Credentials

EVENTS = Path(__file__).resolve().parents[1] / "events"
TIMER_EVENT = (EVENTS / "timer.json").read_bytes()  # FC's timer trigger event, as the handler gets it


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


def load_event(name: str) -> dict[str, Any]:
    """One of the sample events in tests/events."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def http_event(
    method: str,
    path: str,
    *,
    token: str | None = HTTP_TOKEN,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: str | bytes = "",
    b64: bool = False,
) -> dict[str, Any]:
    """An FC 3.0 HTTP trigger event built on FC's documentation sample."""
    ev = copy.deepcopy(load_event("http-doc-sample.json"))
    ev["rawPath"] = path
    ev["requestContext"]["http"].update(method=method, path=path)
    ev["headers"] = {
        "User-Agent": "pytest",
        **({"Authorization": f"Bearer {token}"} if token else {}),
        **(headers or {}),
    }
    ev["queryParameters"] = query or {}
    if isinstance(body, bytes) or b64:
        raw = body.encode() if isinstance(body, str) else body
        ev["body"], ev["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:
        ev["body"], ev["isBase64Encoded"] = body, False
    return ev
