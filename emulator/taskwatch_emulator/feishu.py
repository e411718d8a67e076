"""Fake Feishu / Lark custom bot: ``POST /open-apis/bot/v2/hook/<TOKEN>``.

One class serves both: Lark is the same bot on another host, and the host does not matter on
loopback. Refusals are ``{"code": N, "msg": ..., "data": {}}`` with HTTP ``refusal_status``
(200 by default; set it to 400 to check a client reads the body of a 4xx as well): 19001 bad
token, 9499 body not JSON or over 20,000 bytes, 19002 no usable ``msg_type``/content, 19021
signature or timestamp (signed bots: ``timestamp`` in seconds within an hour, ``sign`` =
:func:`feishu_sign`), 19024 keyword missing (keyword bots), 11232 over 100 a minute or 5 a
second. Accepted messages (parsed JSON, ``timestamp``/``sign`` included) go to ``messages``.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from .auth import feishu_sign
from .base import Clock, Request, Response
from .chat import ChatFake, html_page, strings_of
from .faults import Fault

HOOK_PREFIX = "/open-apis/bot/v2/hook/"
MAX_BYTES = 20_000
PER_MINUTE = 100
PER_SECOND = 5
TIMESTAMP_WINDOW_S = 3_600
MSG_TYPES = ("text", "post", "interactive", "image", "share_chat")
# Keys whose values are markup, not what a reader sees (a keyword must be in visible text).
NOT_TEXT = ("msg_type", "timestamp", "sign", "tag", "template", "width", "layout", "img_key", "value")

MESSAGES = {
    -1: "system busy",
    9499: "Bad Request",
    11232: "frequency limited",
    19001: "param invalid: incoming webhook access token invalid",
    19002: "params error, msg_type need",
    19021: "sign match fail or timestamp is not within one hour from current time",
    19024: "Key Words Not Found",
}

# ``<at user_id="ou_x">Name</at>`` in text, ``<at id=ou_x></at>`` in lark_md; quotes optional.
_AT = re.compile(r"""<at\s+(?:user_id|id|open_id|email)\s*=\s*["']?([^"'\s>]+)["']?\s*>""")


class FeishuFake(ChatFake):
    name = "feishu"

    def __init__(
        self,
        token: str,
        clock: Clock,
        secret: str | None = None,
        keyword: str | None = None,
        auth_clock: Clock | None = None,
        name: str = "feishu",
    ) -> None:
        super().__init__(clock, auth_clock)
        self.name = name  # "lark" for the second instance, so its thread and errors say so
        self.token = token
        self.secret = secret
        self.keyword = keyword
        self.per_minute = PER_MINUTE
        self.per_second = PER_SECOND
        self.refusal_status = 200

    def text_of(self, msg: dict[str, Any]) -> str:
        visible = {k: v for k, v in msg.items() if k in ("content", "card")}
        return "\n".join(strings_of(visible, NOT_TEXT))

    def mentions(self) -> list[str]:
        """Ids pinged by accepted messages, in order: ``<at id=…>``/``<at user_id=…>`` in a text
        message or in a card's ``lark_md``/``markdown`` elements, and ``{"tag": "at"}`` in a post.
        An ``<at>`` in a ``plain_text`` element or a card title pings nobody and is left out."""
        with self.lock:
            out: list[str] = []
            for m in self.messages:
                out.extend(_mentions_in(m))
            return out

    def render_fault(self, fault: Fault, req: Request) -> Response:
        if fault.kind == "errcode":
            return self._refuse(fault.errcode, MESSAGES.get(fault.errcode, fault.message))
        if fault.kind == "malformed":
            return Response(200, b"<html>upstream error</html>", "text/html")
        return Response(fault.status, html_page(fault.status, fault.code), "text/html")

    def handle(self, req: Request) -> Response:
        if not req.path.startswith(HOOK_PREFIX) or req.method != "POST":
            return Response(404, b'{"code":404,"msg":"404 page not found"}', "application/json")
        token = req.path[len(HOOK_PREFIX) :]
        if not token or not hmac.compare_digest(token, self.token):
            return self._refuse(19001)
        if len(req.body) > MAX_BYTES:
            return self._refuse(9499)
        try:
            msg = json.loads(req.body)
        except ValueError:
            return self._refuse(9499)
        if not isinstance(msg, dict):
            return self._refuse(9499)
        if self.secret is not None and not self._signed(msg.get("timestamp"), msg.get("sign")):
            return self._refuse(19021)
        bad = _shape_error(msg)
        if bad is not None:
            return self._refuse(19002, bad)
        if self.keyword and self.keyword not in self.text_of(msg):
            return self._refuse(19024)
        if not self._admit(msg, [(self.per_minute, 60.0), (self.per_second, 1.0)]):
            return self._refuse(11232)
        body = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
        return Response(200, json.dumps(body).encode(), "application/json; charset=utf-8")

    def _signed(self, timestamp: object, sign: object) -> bool:
        assert self.secret is not None
        if isinstance(timestamp, bool) or not isinstance(sign, str):
            return False
        if isinstance(timestamp, int):
            stamp = str(timestamp)
        elif isinstance(timestamp, str) and timestamp.isdigit():
            stamp = timestamp
        else:
            return False
        if abs(int(stamp) - self.auth_clock()) > TIMESTAMP_WINDOW_S:
            return False
        return hmac.compare_digest(sign, feishu_sign(self.secret, stamp))

    def _refuse(self, code: int, msg: str | None = None) -> Response:
        body = {"code": code, "data": {}, "msg": msg or MESSAGES.get(code, "error")}
        return Response(self.refusal_status, json.dumps(body).encode(), "application/json; charset=utf-8")


def _shape_error(msg: dict[str, Any]) -> str | None:
    kind = msg.get("msg_type")
    if kind not in MSG_TYPES:
        return MESSAGES[19002]
    if kind == "interactive":
        return None if isinstance(msg.get("card"), dict) else "params error, card need"
    content = msg.get("content")
    if not isinstance(content, dict):
        return "params error, content need"
    if kind == "text" and not (isinstance(content.get("text"), str) and content["text"]):
        return "params error, text content need"
    if kind == "post" and not isinstance(content.get("post"), dict):
        return "params error, post content need"
    return None


def _mentions_in(msg: dict[str, Any]) -> list[str]:
    kind = msg.get("msg_type")
    if kind == "text":
        return _AT.findall(str(msg["content"]["text"]))
    found: list[str] = []

    def walk(v: object) -> None:
        if isinstance(v, dict):
            tag = v.get("tag")
            if kind == "interactive" and tag in ("lark_md", "markdown") and isinstance(v.get("content"), str):
                found.extend(_AT.findall(v["content"]))
            elif kind == "post" and tag == "at" and isinstance(v.get("user_id"), str):
                found.append(v["user_id"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(msg.get("card") if kind == "interactive" else msg.get("content"))
    return found
