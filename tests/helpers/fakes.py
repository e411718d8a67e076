"""In-process fakes of OpenSearch, OSS and DingTalk on top of `responses`.

The real SDKs build and sign the requests; the fakes answer like the services and record what
was sent so tests can assert on paths, headers and bodies. OpenSearch goes through
aliyunsdkcore's vendored requests, hence the separate mock target.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from helpers.creds import WEBHOOK_TOKEN

SDK_TARGET = "aliyunsdkcore.vendored.requests.adapters.HTTPAdapter.send"
REGION = "cn-hangzhou"
OPENSEARCH_HOST = f"opensearch.{REGION}.aliyuncs.com"
BUCKET = "tw-state"
OSS_HOST = f"{BUCKET}.oss-{REGION}.aliyuncs.com"
WEBHOOK = f"https://oapi.dingtalk.com/robot/send?access_token={WEBHOOK_TOKEN}"
TASK_PATH = re.compile(
    r"^/v4/openapi/app-groups/(?P<app>[^/]+)/functions/(?P<fn>[^/]+)/instances/(?P<inst>[^/]+)/tasks(?:/(?P<gen>[^/?]+))?$"
)


def task(generation: str, status: str = "running", progress: float = 0, **extra: Any) -> dict[str, Any]:
    """A `Result` object as OpenSearch returns it."""
    return {
        "FunctionName": "rec",
        "Generation": generation,
        "Status": status,
        "Progress": progress,
        "StartTime": extra.pop("start", 1_764_000_000_000),
        "EndTime": extra.pop("end", 0),
        "RunId": f"run-{generation}",
        "ExtendInfo": extra.pop("extend_info", "{}"),
        **extra,
    }


@dataclass
class FakeCloud:
    # (app, fn, inst) -> list of Result dicts, newest first
    tasks: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    opensearch_faults: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    opensearch_calls: list[Any] = field(default_factory=list)
    objects: dict[str, bytes] = field(default_factory=dict)
    oss_calls: list[Any] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    dingtalk_calls: list[Any] = field(default_factory=list)
    dingtalk_answers: list[dict[str, Any]] = field(default_factory=list)  # queued errcode answers

    def set_task(self, target: str, result: dict[str, Any]) -> None:
        """Make ``result`` the newest task of ``app/fn/inst`` (replacing the same generation)."""
        app, fn, inst = target.split("/")
        runs = [r for r in self.tasks.get((app, fn, inst), []) if r["Generation"] != result["Generation"]]
        self.tasks[(app, fn, inst)] = sorted([result, *runs], key=lambda r: int(r["Generation"]), reverse=True)

    # OpenSearch -------------------------------------------------------------------------
    def _opensearch(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.opensearch_calls.append(request)
        if self.opensearch_faults:
            status, body = self.opensearch_faults.pop(0)
            return status, {}, json.dumps(body)
        match = TASK_PATH.match(urlsplit(request.url).path)
        assert match, request.url
        runs = self.tasks.get((match["app"], match["fn"], match["inst"]), [])
        if match["gen"] is None:
            query = parse_qs(urlsplit(request.url).query)
            size = int(query.get("pageSize", ["1"])[0])
            first = (int(query.get("pageNumber", ["1"])[0]) - 1) * size
            page = runs[first : first + size]
            return 200, {}, json.dumps({"RequestId": "req", "TotalCount": len(runs), "Result": page})
        for run in runs:
            if run["Generation"] == match["gen"]:
                return 200, {}, json.dumps({"RequestId": "req", "Status": "OK", "Result": run})
        return 404, {}, json.dumps({"RequestId": "req", "Code": "Task.NotExist", "Message": "task does not exist"})

    # OSS --------------------------------------------------------------------------------
    def _oss(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        self.oss_calls.append(request)
        key = urlsplit(request.url).path.lstrip("/")
        headers = {"Date": "Sat, 28 Nov 2026 00:00:00 GMT", "x-oss-request-id": "oss-req"}
        if request.method == "GET":
            if key not in self.objects:
                return 404, headers, _oss_error("NoSuchKey", key)
            return 200, {**headers, "ETag": _etag(self.objects[key])}, self.objects[key]
        if request.method == "PUT":
            if request.headers.get("x-oss-forbid-overwrite") == "true" and key in self.objects:
                return 409, headers, _oss_error("FileAlreadyExists", key)
            self.objects[key] = _body_bytes(request.body)
            return 200, {**headers, "ETag": _etag(self.objects[key])}, b""
        if request.method == "DELETE":
            self.objects.pop(key, None)
            return 204, headers, b""
        raise AssertionError(f"unexpected OSS call {request.method} {request.url}")

    # DingTalk ---------------------------------------------------------------------------
    def _dingtalk(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.dingtalk_calls.append(request)
        if self.dingtalk_answers:
            return 200, {}, json.dumps(self.dingtalk_answers.pop(0))
        self.messages.append(json.loads(request.body))
        return 200, {}, json.dumps({"errcode": 0, "errmsg": "ok"})


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, str)):
        return body.encode() if isinstance(body, str) else body
    if hasattr(body, "read"):
        data: bytes = body.read()
        return data
    return b"".join(body)  # the OSS SDK streams bodies as iterators


def _etag(data: bytes) -> str:
    """OSS answers GetObject and PutObject with the MD5 of the object as its ETag."""
    return '"' + hashlib.md5(data).hexdigest().upper() + '"'  # noqa: S324 - an ETag, not security


def _oss_error(code: str, key: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{code}</Message>'
        f"<RequestId>oss-req</RequestId><HostId>{OSS_HOST}</HostId><Key>{key}</Key></Error>"
    ).encode()


@contextmanager
def fake_cloud() -> Iterator[FakeCloud]:
    cloud = FakeCloud()
    with (
        responses.RequestsMock(target=SDK_TARGET, assert_all_requests_are_fired=False) as sdk,
        responses.RequestsMock(assert_all_requests_are_fired=False) as plain,
    ):
        sdk.add_callback(responses.GET, re.compile(rf"https://{re.escape(OPENSEARCH_HOST)}/.*"), cloud._opensearch)
        for method in (responses.GET, responses.PUT, responses.DELETE):
            plain.add_callback(method, re.compile(rf"https://{re.escape(OSS_HOST)}/.*"), cloud._oss)
        plain.add_callback(responses.POST, re.compile(r"https://oapi\.dingtalk\.com/robot/send.*"), cloud._dingtalk)
        yield cloud


class MemoryStore:
    """In-memory store for tests; counts writes so tests can assert an idle tick writes nothing."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.writes: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def get(self, name: str) -> bytes | None:
        with self._lock:
            return self.objects.get(name)

    def put(self, name: str, data: bytes, *, create_only: bool = False) -> bool:
        with self._lock:
            if create_only and name in self.objects:
                return False
            self.writes.append(("put", name))
            self.objects[name] = data
            return True

    def delete(self, name: str) -> None:
        with self._lock:
            self.writes.append(("delete", name))
            self.objects.pop(name, None)
