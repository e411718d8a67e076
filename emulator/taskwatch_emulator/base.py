"""HTTP plumbing shared by the fakes: one ThreadingHTTPServer per service on 127.0.0.1:0.

Each fake subclasses :class:`Service` and implements ``handle`` (the real behaviour) and
``render_fault`` (its own error body for ``status``/``malformed``/``errcode`` faults); latency,
timeouts, resets and the call log are handled here once.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, unquote_plus

from .faults import Fault, FaultKind, FaultRules

Clock = Callable[[], float]


class ManualClock:
    """A clock tests move by hand: ``clock.advance(60)``; calling it returns epoch seconds."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        with self._lock:
            self._now = now


def parse_query(raw_query: str) -> dict[str, str | None]:
    """Decode a query string keeping ``k`` (no ``=``) apart from ``k=``, as ROA signing does."""
    out: dict[str, str | None] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        k, sep, v = part.partition("=")
        out[unquote_plus(k)] = unquote_plus(v) if sep else None
    return out


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: str  # as sent (ROA signs the undecoded path)
    path: str  # percent-decoded
    raw_query: str
    query: dict[str, str | None]
    headers: Mapping[str, str]  # names lower-cased
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def q(self, name: str, default: str | None = None) -> str | None:
        v = self.query.get(name)
        return default if v is None else v


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One request as the fake saw it (before faults), for counting in tests and benchmarks."""

    method: str
    path: str
    query: dict[str, str | None]
    at: float  # emulator clock


class Service:
    """Base of a fake: owns the server thread, call log, latency and fault rules."""

    name = "service"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # Constant per-request delay (seconds) before answering; benchmarks set it.
        self.latency = 0.0
        self.faults = FaultRules()
        self.calls: list[Call] = []
        # Exceptions raised inside the fake: a non-empty list means an emulator bug.
        self.errors: list[str] = []
        # TCP connections accepted: a warm client that pools its connections opens none again.
        self.connections = 0
        # Called with each request before it is answered (after any latency); a benchmark holds
        # calls here to control how many are in flight at once.
        self.hold: Callable[[Request], None] | None = None
        self.lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- to implement -------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        raise NotImplementedError

    def render_fault(self, fault: Fault, req: Request) -> Response:
        raise NotImplementedError

    def extra_headers(self) -> dict[str, str]:
        return {}

    # --- public helpers -----------------------------------------------------------------
    def inject(self, kind: FaultKind, times: int | None = 1, **kw: object) -> Fault:
        """Shortcut for ``self.faults.add``; see :class:`FaultRules.add` for keywords."""
        return self.faults.add(kind, times, **kw)  # type: ignore[arg-type]

    def count(self, path_contains: str | None = None, method: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for c in self.calls
                if (path_contains is None or path_contains in c.path) and (method is None or c.method == method.upper())
            )

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    def close_idle_connections(self) -> None:
        """Close every open connection, as a service does with keep-alive connections left idle
        past its timeout (between two ticks of a warm instance, say)."""
        if self._server is not None:
            self._server.close_connections()

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} fake is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} fake is not started")
        return int(self._server.server_address[1])

    def start(self) -> str:
        if self._server is not None:
            return self.endpoint
        server = _Server(self)
        self._server = server
        # Short poll interval: shutdown() waits for the loop to notice, and tests start many emulators.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"emu-{self.name}", daemon=True
        )
        self._thread.start()
        return self.endpoint

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.stopping.set()  # wakes handlers sleeping in timeout/latency faults
        server.shutdown()
        server.close_connections()  # idle keep-alive connections would otherwise block readers
        server.server_close()
        if thread is not None:
            thread.join(timeout=2)
        server.join_handlers(timeout=2)
        self._server = None
        self._thread = None

    def _record(self, req: Request) -> None:
        with self.lock:
            self.calls.append(Call(req.method, req.path, dict(req.query), self.clock()))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, service: Service) -> None:
        self.service = service
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._handlers: set[threading.Thread] = set()
        self._conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which may wait on DNS; skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._conns.add(conn)
            self._handlers.add(threading.current_thread())

    def untrack(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._conns.discard(conn)
            self._handlers.discard(threading.current_thread())

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_handlers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._conn_lock:
            threads = list(self._handlers)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive like the real services, so clients pool connections as in production.
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus the client's
        # delayed ACK adds ~40 ms to every keep-alive answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)
        with self.server.service.lock:
            self.server.service.connections += 1

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests read the call log instead

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the emulator clock, so a client that derives its clock offset
        # from server answers (as the OSS SDK can) sees the same time the fake checks against.
        return super().date_time_string(self.server.service.clock() if timestamp is None else timestamp)

    def do_GET(self) -> None:
        self._dispatch()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        svc = self.server.service
        raw_path, _, raw_query = self.path.partition("?")
        req = Request(
            method=self.command,
            raw_path=raw_path,
            path=unquote(raw_path),
            raw_query=raw_query,
            query=parse_query(raw_query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        svc._record(req)
        if svc.latency > 0:
            self.server.stopping.wait(svc.latency)
        if svc.hold is not None:
            svc.hold(req)
        fault = svc.faults.take(req.method, req.path)
        try:
            if fault is not None and fault.kind == "timeout":
                self.server.stopping.wait(fault.seconds)
                self._drop(rst=False)
                return
            if fault is not None and fault.kind == "reset":
                self._drop(rst=True)
                return
            if fault is not None and fault.kind == "latency":
                self.server.stopping.wait(fault.seconds)
                fault = None
            if fault is not None and fault.kind == "late":
                svc.handle(req)  # the request takes effect; its answer never reaches the client
                self.server.stopping.wait(fault.seconds)
                self._drop(rst=False)
                return
            resp = svc.render_fault(fault, req) if fault is not None else svc.handle(req)
        except Exception:
            tb = traceback.format_exc()
            svc.errors.append(tb)
            print(f"taskwatch_emulator {svc.name} error:\n{tb}", file=sys.stderr)
            resp = Response(500, tb.encode(), "text/plain")
        self._write(resp)

    def _drop(self, rst: bool) -> None:
        if rst:
            # SO_LINGER 0 makes close() send a RST, the way a crashing proxy looks to a client.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _write(self, resp: Response) -> None:
        self.send_response(resp.status)
        headers = {**self.server.service.extra_headers(), **resp.headers}
        if resp.content_type:
            headers.setdefault("Content-Type", resp.content_type)
        headers["Content-Length"] = str(len(resp.body))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)
