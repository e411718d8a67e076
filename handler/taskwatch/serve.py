"""`taskwatch serve`: the HTTP trigger's router behind a local standard-library HTTP server.

Each request becomes the FC 3.0 HTTP event FC itself would send and goes through the same entry
point as in the cloud (``taskwatch.fc.handle``), so what `curl` shows here is what the trigger
URL answers. Settings are read as for the CLI (``TASKWATCH_STATE`` defaults to a local folder).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import logs
from .redact import scrub

if TYPE_CHECKING:
    from .wiring import Wiring

MAX_BODY = 1 << 20  # a request to this API carries at most a tiny JSON object
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class FunctionMeta:
    name: str = "taskwatch"
    handler: str = "index.handler"
    memory: int = 512
    timeout: int = 120


@dataclass(frozen=True)
class LocalContext:
    """The FC context attributes taskwatch reads; ``credentials`` None = the environment's."""

    request_id: str
    region: str = field(default_factory=lambda: os.environ.get("ALIBABA_CLOUD_REGION_ID", ""))
    account_id: str = "local"
    function: FunctionMeta = field(default_factory=FunctionMeta)
    credentials: None = None


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def build_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, *, source_ip: str, protocol: str
) -> dict[str, Any]:
    """The FC 3.0 HTTP trigger event for one request (repeated headers and parameters comma-joined)."""
    if target.startswith("/"):  # origin-form; urlsplit would read `//x/y` as a host
        raw_path, _, query_text = target.split("#", 1)[0].partition("?")
    else:  # absolute-form (a proxy-style request line)
        parts = urlsplit(target)
        raw_path, query_text = parts.path or "/", parts.query
    joined: dict[str, str] = {}
    names: dict[str, str] = {}  # lower-case name -> the spelling first seen, as a proxy would keep it
    for name, value in headers:
        key = names.setdefault(name.lower(), name)
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(query_text, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    request_id = f"1-{int(now):x}-{uuid.uuid4().hex[:24]}"
    user_agent = next((v for k, v in joined.items() if k.lower() == "user-agent"), "")
    return {
        "version": "v1",
        "rawPath": raw_path,
        "headers": joined,
        "queryParameters": query,
        "body": text,
        "isBase64Encoded": is_base64,
        "requestContext": {
            "accountId": "local",
            "domainName": next((v for k, v in joined.items() if k.lower() == "host"), "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": unquote(raw_path, errors="replace"),  # FC sends this one decoded
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "timeEpoch": str(int(now * 1000)),
        },
    }


class LocalServer(ThreadingHTTPServer):
    wiring: Wiring  # what every request's tick is run with


class _Handler(BaseHTTPRequestHandler):
    def version_string(self) -> str:
        return "taskwatch"  # not the Python version: nothing a caller needs

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; every method goes to the router, which answers 405.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except BadRequest as err:
            self._send(err.status, {"Content-Type": "application/json"}, _error(str(err)))
            return
        event = build_event(
            self.command,
            self.path,
            list(self.headers.items()),
            body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        context = LocalContext(request_id=event["requestContext"]["requestId"])
        from .fc import handle

        try:
            wiring = self.server.wiring if isinstance(self.server, LocalServer) else None
            answer = handle(json.dumps(event).encode("utf-8"), context, wiring)
            status, headers, payload = _unpack(answer)
        except Exception as err:  # the router never raises; this guards the guard
            logs.event("serve_failed", logging.ERROR, exception=type(err).__name__)
            status, headers, payload = 500, {"Content-Type": "application/json"}, _error("internal error")
        self._send(status, headers, payload)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        if not raw.strip().isdigit():
            raise BadRequest(400, "bad Content-Length")
        length = int(raw)
        if length > MAX_BODY:
            raise BadRequest(413, f"body over {MAX_BODY} bytes")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            line = self.rfile.readline(100).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise BadRequest(400, "bad chunked body") from None
            if size == 0:
                while self.rfile.readline(1000).strip():  # trailers
                    pass
                return body
            if len(body) + size > MAX_BODY:
                raise BadRequest(413, f"body over {MAX_BODY} bytes")
            body += self.rfile.read(size)
            self.rfile.readline(10)

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":  # HEAD: the headers GET would get, no body (RFC 9110)
            self.wfile.write(payload)
        self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (bad request line, oversized headers) in JSON too, not HTML.
        self.close_connection = True
        # A garbled request line leaves the version at HTTP/0.9, which has no status line: answer 1.0.
        self.request_version = "HTTP/1.0" if self.request_version == "HTTP/0.9" else self.request_version
        try:
            self.send_response(code, message)
            payload = _error(message or self.responses.get(code, ("error",))[0])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(payload)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        # The router logs every request as JSON; keep http.server's own notes (errors) in that form.
        logs.event("serve", logging.INFO, message=scrub(format % args)[:300])

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # fc.handle already logged `http_request`


def _unpack(answer: Any) -> tuple[int, dict[str, str], bytes]:
    if not isinstance(answer, dict) or not isinstance(answer.get("statusCode"), int):
        raise TypeError("the handler did not return an FC HTTP answer")
    headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
    body = answer.get("body") or ""
    payload = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode("utf-8")
    return int(answer["statusCode"]), headers, payload


def _error(message: str) -> bytes:
    return json.dumps({"error": scrub(message)}).encode("utf-8")


def make_server(port: int = 0, host: str = DEFAULT_HOST, wiring: Wiring | None = None) -> LocalServer:
    """A bound, not yet serving server (port 0: any free port; see ``server_address``).

    ``wiring`` None: settings as for the command line (no FC-only defaults or internal endpoints).
    """
    from .wiring import LOCAL

    server = LocalServer((host, port), _Handler)
    server.daemon_threads = True
    server.wiring = wiring or LOCAL
    return server


def serve(port: int, host: str = DEFAULT_HOST) -> int:
    """Serve until Ctrl-C; 0 on a clean stop, 1 when the port cannot be bound."""
    try:
        server = make_server(port, host)
    except OSError as err:  # e.g. the port is in use: one line, no traceback
        print(f"taskwatch: cannot listen on {host}:{port}: {err.strerror or err}", file=sys.stderr)
        return 1
    except OverflowError:  # the socket module's answer to a port above 65535
        print(f"taskwatch: cannot listen on {host}:{port}: the port must be from 1 to 65535", file=sys.stderr)
        return 1
    bound_host, bound_port = server.server_address[:2]
    print(
        f"taskwatch: serving the HTTP trigger API on http://{bound_host!s}:{bound_port} (Ctrl-C stops)", file=sys.stderr
    )
    if not os.environ.get("TASKWATCH_HTTP_TOKEN", "").strip():
        print("taskwatch: TASKWATCH_HTTP_TOKEN is not set: every route but /healthz answers 403", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
