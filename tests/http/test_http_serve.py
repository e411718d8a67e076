"""The same routes through `taskwatch serve` with real HTTP requests on loopback."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import responses
from helpers.creds import HTTP_TOKEN
from twhttp import DINGTALK, TASK_URL, task

from taskwatch import serve as serve_module
from taskwatch.serve import build_event

AUTH = {"Authorization": f"Bearer {HTTP_TOKEN}"}


def request(
    server: ThreadingHTTPServer,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def call(
    server: ThreadingHTTPServer,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, Any]:
    status, head, raw = request(server, method, target, headers, body)
    assert head["Content-Type"] == "application/json"
    return status, head, json.loads(raw)


def test_healthz(server: ThreadingHTTPServer) -> None:
    assert call(server, "GET", "/healthz")[::2] == (200, {"ok": True})
    status, head, raw = request(server, "HEAD", "/healthz")
    assert (status, raw, head["Content-Length"]) == (200, b"", str(len(b'{"ok": true}')))


def test_auth_and_routing(server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert call(server, "GET", "/status")[0] == 401
    assert call(server, "GET", "/nope", {"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
    assert call(server, "GET", "/nope", AUTH)[0] == 404
    status, head, _ = call(server, "DELETE", "/check", {"authorization": f"Bearer {HTTP_TOKEN}"})
    assert (status, head["Allow"]) == (405, "POST, OPTIONS")
    status, head, body = call(server, "BREW", "/status", AUTH)  # any method reaches the router
    assert (status, head["Allow"]) == (405, "GET, HEAD, OPTIONS") and "BREW" in body["error"]
    assert call(server, "OPTIONS", "/status", AUTH)[2] == {"allow": ["GET", "HEAD", "OPTIONS"]}
    monkeypatch.delenv("TASKWATCH_HTTP_TOKEN")
    assert call(server, "GET", "/status", AUTH)[0] == 403
    assert call(server, "GET", "/healthz")[0] == 200


def test_repeated_headers_are_joined(server: ThreadingHTTPServer) -> None:
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=10) as sock:
        sock.sendall(
            b"GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dXNlcg==\r\n"
            b"Authorization: Bearer " + HTTP_TOKEN.encode() + b"\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.0 200 ") or data.startswith(b"HTTP/1.1 200 "), data[:200]


def test_status_and_check(
    server: ThreadingHTTPServer, opensearch: responses.RequestsMock, dingtalk: responses.RequestsMock, env: Path
) -> None:
    opensearch.get(TASK_URL, json={"RequestId": "r", "Result": task()})
    dingtalk.post(DINGTALK, json={"errcode": 0, "errmsg": "ok"})
    assert call(server, "GET", "/status", AUTH)[2]["targets"] == {"app1/rec/inst1@1700": None}

    status, _, body = call(server, "POST", "/check?dryRun=true", AUTH)
    assert (status, body["dryRun"], body["saved"], len(dingtalk.calls)) == (200, True, False, 0)
    status, _, body = call(server, "POST", "/check", AUTH, b'{"dryRun": true}')
    assert (status, body["dryRun"]) == (200, True)

    status, _, body = call(server, "POST", "/check", AUTH)
    assert (status, body["sent"], body["saved"], len(dingtalk.calls)) == (200, 1, True, 1)
    status, _, body = call(server, "GET", "/status/", AUTH)
    assert status == 200 and body["targets"]["app1/rec/inst1@1700"]["status"] == "running"


def test_bad_bodies(server: ThreadingHTTPServer) -> None:
    assert call(server, "POST", "/check", AUTH, b"\xff\xfe\x00binary")[0] == 400
    assert call(server, "POST", "/check", AUTH, b"dryRun=true")[0] == 400
    assert call(server, "POST", "/check?dryRun=maybe", AUTH)[0] == 400
    status, _, body = call(server, "POST", "/check", {**AUTH, "Content-Length": "abc"})
    assert status == 400 and body["error"]


def test_chunked_body_is_read(server: ThreadingHTTPServer) -> None:
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /check HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer "
            + HTTP_TOKEN.encode()
            + b"\r\n\r\n5\r\n[1,2]\r\n0\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b" 400 " in head.split(b"\r\n")[0] and b"JSON object" in body  # [1,2] was read and refused


def test_http_server_errors_are_json(server: ThreadingHTTPServer) -> None:
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=10) as sock:
        sock.sendall(b"this is not http\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b" 400 " in head and json.loads(body)["error"]


def test_build_event_is_fc3_shaped() -> None:
    ev = build_event(
        "POST",
        "/check?dryRun=true&x=1&x=2",
        [("Host", "h"), ("X-A", "1"), ("x-a", "2")],
        b"\xff",
        source_ip="127.0.0.1",
        protocol="HTTP/1.1",
    )
    assert ev["version"] == "v1" and ev["rawPath"] == "/check"
    assert ev["queryParameters"] == {"dryRun": "true", "x": "1,2"}
    assert ev["headers"] == {"Host": "h", "X-A": "1,2"}
    assert ev["isBase64Encoded"] is True and ev["body"] == "/w=="
    http_part = ev["requestContext"]["http"]
    assert (http_part["method"], http_part["path"], http_part["sourceIp"]) == ("POST", "/check", "127.0.0.1")
    assert ev["requestContext"]["requestId"] and ev["requestContext"]["timeEpoch"].isdigit()
    assert build_event("GET", "//status", [], b"", source_ip="::1", protocol="HTTP/1.0")["rawPath"] == "//status"


def test_serve_runs_until_interrupted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(self: ThreadingHTTPServer, poll_interval: float = 0.5) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ThreadingHTTPServer, "serve_forever", interrupted)
    assert serve_module.serve(0) == 0
    assert "serving the HTTP trigger API on http://127.0.0.1:" in capsys.readouterr().err


def test_serve_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert serve_module.serve(taken.getsockname()[1]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_cli_serve_calls_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    from taskwatch import cli

    seen: list[int] = []

    def fake_serve(port: int) -> int:
        seen.append(port)
        return 0

    monkeypatch.setattr(serve_module, "serve", fake_serve)
    assert cli.main(["serve", "--port", "9123"]) == 0 and seen == [9123]


def test_concurrent_requests(server: ThreadingHTTPServer) -> None:
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(call(server, "GET", "/status", AUTH)[0])) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [200] * 8
