"""Shared helpers for the HTTP trigger tests: FC-shaped events, the handler call, fake cloud answers."""

from __future__ import annotations

import base64
import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
sys.path.insert(0, str(ROOT / "handler"))  # `index` is FC's entry module, not part of the package

import index  # noqa: E402

TOKEN = "tw-http-token-0123456789"  # the token in tests/events/*.json
AK_ID = "STS.NTestAccessKeyIdHttp"
AK_SECRET = "ak-secret-Zq8w7e6r5t4y3u2i"
STS_TOKEN = "sts-token-Pl0Ok9Ij8Uh7Yg6Tf5"
WEBHOOK_TOKEN = "webhooktoken1Mn2Bv3Cx4Zl5Kj6"
DINGTALK_SECRET = "SECdingsecret4f5g6h7j8k9l0"
SECRETS = {
    "http token": TOKEN,
    "AK secret": AK_SECRET,
    "STS token": STS_TOKEN,
    "webhook token": WEBHOOK_TOKEN,
    "DingTalk secret": DINGTALK_SECRET,
}

OPENSEARCH = "https://opensearch.cn-hangzhou.aliyuncs.com/v4/openapi/app-groups/app1/functions/rec/instances"
TASK_URL = f"{OPENSEARCH}/inst1/tasks/1700"
LIST_URL = f"{OPENSEARCH}/inst2/tasks"
DINGTALK = "https://oapi.dingtalk.com/robot/send"


def task(status: str = "running", progress: int = 30, generation: str = "1700") -> dict[str, Any]:
    end = 0 if status == "running" else 1_700_000_600_000
    return {
        "Generation": generation,
        "Status": status,
        "Progress": progress,
        "StartTime": 1_700_000_000_000,
        "EndTime": end,
        "ExtendInfo": '{"recall": 91}',
    }


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def event(
    method: str,
    path: str,
    *,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: str | bytes = "",
    b64: bool = False,
) -> dict[str, Any]:
    """An FC 3.0 HTTP event built on FC's documentation sample."""
    ev = copy.deepcopy(load("http-doc-sample.json"))
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


class Context:
    request_id = "req-http-test"
    region = "cn-hangzhou"
    account_id = "1234567890"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    json: Any
    raw: dict[str, Any]


def invoke(ev: dict[str, Any] | bytes) -> Reply:
    """Through FC's entry point, with the event as FC gives it: JSON bytes."""
    data = ev if isinstance(ev, bytes) else json.dumps(ev).encode()
    answer = index.handler(data, Context())
    check_answer(answer)
    return Reply(answer["statusCode"], answer["headers"], json.loads(answer["body"]), answer)


def check_answer(answer: Any) -> None:
    """The FC answer contract: JSON, never a traceback, an `error` on every 4xx/5xx."""
    assert isinstance(answer, dict)
    assert set(answer) == {"statusCode", "headers", "body", "isBase64Encoded"}
    assert isinstance(answer["statusCode"], int) and answer["isBase64Encoded"] is False
    assert answer["headers"]["Content-Type"] == "application/json"
    assert "Traceback" not in answer["body"]
    body = json.loads(answer["body"])
    assert isinstance(body, dict)
    if answer["statusCode"] >= 400:
        assert isinstance(body.get("error"), str) and body["error"]
