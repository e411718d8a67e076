"""Fake Slack incoming webhook: ``POST /services/T…/B…/<secret>`` (the path is the credential).

Answers are plain text, as Slack's: ``ok`` (200); 400 ``invalid_payload`` (not a JSON object,
as a JSON body or a form field ``payload=``), ``invalid_blocks_format`` (``blocks`` not a list),
``invalid_blocks`` (over 50 blocks, an unknown or malformed block, a section text over 3,000
characters, a header over 150), ``no_text`` (neither ``text`` nor ``blocks``); 404
``no_service`` for any other path; 429 ``rate_limited`` with ``Retry-After`` past ``per_minute``
accepted messages in a rolling minute. Accepted messages (parsed JSON) go to ``messages``.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any
from urllib.parse import parse_qs

from .base import Clock, Request, Response
from .chat import ChatFake, html_page, strings_of
from .faults import Fault

MAX_BLOCKS = 50
SECTION_MAX_CHARS = 3_000
FIELD_MAX_CHARS = 2_000
MAX_FIELDS = 10
HEADER_MAX_CHARS = 150
PER_MINUTE = 60
RETRY_AFTER_S = 30
BLOCK_TYPES = frozenset(
    {"section", "divider", "header", "context", "actions", "image", "rich_text", "input", "file", "video", "markdown"}
)
NOT_TEXT = ("type", "block_id", "action_id", "image_url", "url", "style", "value")

# ``<@U123>`` or ``<@U123|name>``; W… ids are users of an Enterprise Grid organisation.
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


class SlackFake(ChatFake):
    name = "slack"

    def __init__(self, path: str, clock: Clock, auth_clock: Clock | None = None) -> None:
        super().__init__(clock, auth_clock)
        if not path.startswith("/"):
            raise ValueError(f"a Slack webhook path starts with '/': {path!r}")
        self.path = path
        self.per_minute = PER_MINUTE
        self.retry_after = RETRY_AFTER_S

    def text_of(self, msg: dict[str, Any]) -> str:
        return "\n".join(strings_of({k: msg[k] for k in ("text", "blocks") if k in msg}, NOT_TEXT))

    def mentions(self) -> list[str]:
        """User ids pinged (``<@U…>``) in accepted messages' text and blocks, in order."""
        with self.lock:
            return [uid for m in self.messages for uid in _MENTION.findall(self.text_of(m))]

    def render_fault(self, fault: Fault, req: Request) -> Response:
        if fault.kind == "errcode":
            # Slack has no numeric codes: the fault's message is the error word, e.g. "invalid_token".
            return _plain(400, fault.message)
        if fault.kind == "malformed":
            return Response(200, b"<html>upstream error</html>", "text/html")
        if fault.status == 429:
            return self._rate_limited()
        return Response(fault.status, html_page(fault.status, fault.code), "text/html")

    def handle(self, req: Request) -> Response:
        if not hmac.compare_digest(req.path.encode(), self.path.encode()):
            return _plain(404, "no_service")
        if req.method != "POST":
            return _plain(405, "invalid_method")
        msg = _payload(req)
        if msg is None:
            return _plain(400, "invalid_payload")
        bad = _check(msg)
        if bad is not None:
            return _plain(400, bad)
        if not self._admit(msg, [(self.per_minute, 60.0)]):
            return self._rate_limited()
        return _plain(200, "ok")

    def _rate_limited(self) -> Response:
        resp = _plain(429, "rate_limited")
        resp.headers["Retry-After"] = str(self.retry_after)
        return resp


def _payload(req: Request) -> dict[str, Any] | None:
    raw: bytes | str = req.body
    if (req.header("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
        fields = parse_qs(req.body.decode("utf-8", "replace"))
        if "payload" not in fields:
            return None
        raw = fields["payload"][0]
    try:
        msg = json.loads(raw)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


def _check(msg: dict[str, Any]) -> str | None:
    text, blocks = msg.get("text"), msg.get("blocks")
    if text is not None and not isinstance(text, str):
        return "invalid_payload"
    if blocks is not None:
        if not isinstance(blocks, list):
            return "invalid_blocks_format"
        if len(blocks) > MAX_BLOCKS or not all(_block_ok(b) for b in blocks):
            return "invalid_blocks"
    if not text and not blocks:
        return "no_text"
    return None


def _block_ok(block: object) -> bool:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return False
    kind = block["type"]
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            return False
        if text is not None and not _text_ok(text, SECTION_MAX_CHARS):
            return False
        if fields is not None:
            return (
                isinstance(fields, list)
                and 0 < len(fields) <= MAX_FIELDS
                and all(_text_ok(f, FIELD_MAX_CHARS) for f in fields)
            )
        return True
    if kind == "header":
        text = block.get("text")
        return _text_ok(text, HEADER_MAX_CHARS) and isinstance(text, dict) and text.get("type") == "plain_text"
    if kind == "context":
        elements = block.get("elements")
        return isinstance(elements, list) and 0 < len(elements) <= MAX_FIELDS
    return True


def _text_ok(obj: object, limit: int) -> bool:
    if not isinstance(obj, dict) or obj.get("type") not in ("mrkdwn", "plain_text"):
        return False
    text = obj.get("text")
    return isinstance(text, str) and 0 < len(text) <= limit


def _plain(status: int, text: str) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8")
