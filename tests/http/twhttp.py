"""Helpers of the HTTP trigger tests: the handler call and its answer contract, fake cloud answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.creds import AK_SECRET, DINGTALK_SECRET, HTTP_TOKEN, STS_TOKEN, WEBHOOK_TOKEN
from helpers.fc import Context

import index

ROOT = Path(__file__).resolve().parents[2]

SECRETS = {
    "http token": HTTP_TOKEN,
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
