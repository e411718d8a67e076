"""Fake WeCom (企业微信) group robot: ``POST /cgi-bin/webhook/send?key=KEY``.

Like the real robot every refusal is HTTP 200 with ``{"errcode": N, "errmsg": ...}``: 93000 bad
or missing key, 40035 body not a JSON object, 40008 unknown ``msgtype``, 44004 empty content,
40058 content over its budget (markdown 4,096 bytes, text 2,048 bytes, both UTF-8), 45009 more
than 20 messages in a rolling minute. WeCom has no signing: the key in the URL is the secret.
Accepted messages (parsed JSON) are appended to ``messages``.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from .base import Clock, Request, Response
from .chat import ChatFake, html_page
from .faults import Fault

MARKDOWN_MAX_BYTES = 4_096
TEXT_MAX_BYTES = 2_048
PER_MINUTE = 20

MESSAGES = {
    -1: "system busy",
    93000: "invalid webhook url",
    40035: "invalid args",
    40008: "invalid message type",
    44004: "empty content",
    40058: "content exceed max length",
    45009: "api freq out of limit",
}


class WeComFake(ChatFake):
    name = "wecom"

    def __init__(self, key: str, clock: Clock, auth_clock: Clock | None = None) -> None:
        super().__init__(clock, auth_clock)
        self.key = key
        self.per_minute = PER_MINUTE

    def text_of(self, msg: dict[str, Any]) -> str:
        body = msg.get(str(msg.get("msgtype")))
        content = body.get("content") if isinstance(body, dict) else None
        return content if isinstance(content, str) else ""

    def mentions(self) -> list[str]:
        """The mobiles pinged by accepted ``text`` messages (``mentioned_mobile_list``), in order."""
        return self._mentioned("mentioned_mobile_list")

    def mentioned_users(self) -> list[str]:
        """The user ids pinged by accepted ``text`` messages (``mentioned_list``), in order."""
        return self._mentioned("mentioned_list")

    def _mentioned(self, field: str) -> list[str]:
        with self.lock:
            out: list[str] = []
            for m in self.messages:
                text = m.get("text")
                if m.get("msgtype") == "text" and isinstance(text, dict):
                    out.extend(text.get(field) or [])
            return out

    def render_fault(self, fault: Fault, req: Request) -> Response:
        if fault.kind == "errcode":
            return _answer(fault.errcode, MESSAGES.get(fault.errcode, fault.message))
        if fault.kind == "malformed":
            return Response(200, b"<html>upstream error</html>", "text/html")
        return Response(fault.status, html_page(fault.status, fault.code), "text/html")

    def handle(self, req: Request) -> Response:
        if req.path != "/cgi-bin/webhook/send" or req.method != "POST":
            return Response(404, b"<html><body>404 Not Found</body></html>", "text/html")
        key = req.q("key")
        if not key or not hmac.compare_digest(key, self.key):
            return _refuse(93000)
        try:
            msg = json.loads(req.body)
        except ValueError:
            return _refuse(40035, "invalid json")
        if not isinstance(msg, dict):
            return _refuse(40035)
        bad = _check(msg)
        if bad is not None:
            return bad
        if not self._admit(msg, [(self.per_minute, 60.0)]):
            return _answer(45009, f"api freq out of limit, exceed {self.per_minute} times per minute")
        return _answer(0, "ok")


def _check(msg: dict[str, Any]) -> Response | None:
    kind = msg.get("msgtype")
    if kind not in ("markdown", "text"):
        return _refuse(40008)
    body = msg.get(kind)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str) or not content:
        return _refuse(44004)
    budget = MARKDOWN_MAX_BYTES if kind == "markdown" else TEXT_MAX_BYTES
    if len(content.encode()) > budget:
        return _answer(40058, f"{kind}.content exceed max length {budget}")
    assert isinstance(body, dict)
    for field in ("mentioned_mobile_list", "mentioned_list"):
        listed = body.get(field)
        if listed is not None and not (isinstance(listed, list) and all(isinstance(x, str) for x in listed)):
            return _answer(40035, f"invalid args: {field}")
    return None


def _refuse(errcode: int, errmsg: str | None = None) -> Response:
    return _answer(errcode, errmsg or MESSAGES[errcode])


def _answer(errcode: int, errmsg: str) -> Response:
    body = json.dumps({"errcode": errcode, "errmsg": errmsg}, ensure_ascii=False).encode()
    return Response(200, body, "application/json; charset=UTF-8")
