"""Fake DingTalk custom robot: ``POST /robot/send?access_token=T[&timestamp=..&sign=..]``.

Like the real robot every refusal is HTTP 200 with ``{"errcode": N, "errmsg": ...}``:
300001 bad token, 310000 sign/timestamp/keyword, 460101 body over 20,000 bytes, 130101 more
than 20 messages in a rolling minute, 40035 body not JSON. Accepted messages (parsed JSON) are
appended to ``messages``; ``on_message`` is called with each one (a demo prints them).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from .auth import dingtalk_sign
from .base import Clock, Request, Response
from .chat import ChatFake
from .faults import Fault

MAX_BYTES = 20_000
PER_MINUTE = 20
TIMESTAMP_WINDOW_MS = 3_600_000


class DingTalkFake(ChatFake):
    name = "dingtalk"

    def __init__(
        self,
        access_token: str,
        clock: Clock,
        secret: str | None = None,
        keyword: str | None = None,
        auth_clock: Clock | None = None,
    ) -> None:
        super().__init__(clock, auth_clock)
        self.access_token = access_token
        self.secret = secret
        self.keyword = keyword
        self.per_minute = PER_MINUTE

    def text_of(self, msg: dict[str, Any]) -> str:
        """The visible text of a message (markdown title + text, or text content)."""
        return _text_of(msg)

    def render_fault(self, fault: Fault, req: Request) -> Response:
        if fault.kind == "errcode":
            return _answer(fault.errcode, "系统繁忙" if fault.errcode == -1 else fault.message)
        if fault.kind == "malformed":
            return Response(200, b"<html>upstream error</html>", "text/html")
        return Response(fault.status, f"<html><body>{fault.status} {fault.code}</body></html>".encode(), "text/html")

    def handle(self, req: Request) -> Response:
        if req.path != "/robot/send" or req.method != "POST":
            return Response(404, b'{"errcode":404,"errmsg":"not found"}', "application/json")
        token = req.q("access_token")
        if not token:
            return _answer(300005, "token is not exist")
        if not hmac.compare_digest(token, self.access_token):
            return _answer(300001, "token is not exist")
        if self.secret is not None:
            bad = self._check_sign(req.q("timestamp"), req.q("sign"))
            if bad is not None:
                return bad
        if len(req.body) > MAX_BYTES:
            return _answer(460101, f"message too long, exceed {MAX_BYTES} bytes")
        try:
            msg = json.loads(req.body)
        except ValueError:
            return _answer(40035, "缺少参数 json")
        if not isinstance(msg, dict) or "msgtype" not in msg:
            return _answer(40035, "缺少参数 msgtype")
        if self.keyword and self.keyword not in _text_of(msg):
            return _answer(
                310000,
                "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
            )
        with self._arrived:
            now = self.clock()
            while self._sent and self._sent[0] <= now - 60:
                self._sent.popleft()
            if len(self._sent) >= self.per_minute:
                return _answer(130101, f"send too fast, exceed {self.per_minute} times per minute")
            self._sent.append(now)
            self.messages.append(msg)
            self._arrived.notify_all()
        if self.on_message is not None:
            self.on_message(msg)
        return _answer(0, "ok")

    def _check_sign(self, timestamp: str | None, sign: str | None) -> Response | None:
        assert self.secret is not None
        if not timestamp or not sign or not timestamp.isdigit():
            return _answer(310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
        if abs(int(timestamp) - self.auth_clock() * 1000) > TIMESTAMP_WINDOW_MS:
            return _answer(310000, "invalid timestamp")
        # The query was URL-decoded once by the server; a double-encoded sign stays "%2B..." here
        # and fails, as on the real robot.
        if not hmac.compare_digest(sign, dingtalk_sign(self.secret, timestamp)):
            return _answer(310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
        return None


def _text_of(msg: dict[str, Any]) -> str:
    """Concatenated user-visible strings of a message (what a keyword must appear in)."""
    out: list[str] = []

    def walk(v: object) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for k, x in v.items():
                if k not in ("msgtype", "at"):
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(msg)
    return "\n".join(out)


def _answer(errcode: int, errmsg: str) -> Response:
    body = json.dumps({"errcode": errcode, "errmsg": errmsg}, ensure_ascii=False).encode()
    return Response(200, body, "application/json;charset=utf-8")
