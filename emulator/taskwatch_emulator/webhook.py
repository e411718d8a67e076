"""Fake Standard Webhooks receiver: ``POST /hooks/taskwatch`` (the path is configurable).

It verifies as a receiver built on the Standard Webhooks libraries does: 400 when a
``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature`` header is missing or the
timestamp is not an integer, 401 when the timestamp is over 5 minutes from ``auth_clock`` or no
``v1,<base64>`` entry of the space-separated signature list matches (the HMAC key is the
base64-decoded part of the ``whsec_…`` secret), 400 when the verified body is not a JSON object.
Then it answers ``success_status`` (204 by default). A ``webhook-id`` seen before is answered
the same but not recorded again (receivers deduplicate on it) and counted in ``duplicates``.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

from .auth import standard_webhook_key, standard_webhook_sign
from .base import Clock, Request, Response
from .chat import ChatFake, html_page
from .faults import Fault

TOLERANCE_S = 300


@dataclass(frozen=True)
class Delivery:
    """One accepted webhook: its ``webhook-id``, ``webhook-timestamp`` and parsed body."""

    id: str
    timestamp: int
    message: dict[str, Any]


class WebhookReceiverFake(ChatFake):
    name = "webhook"

    def __init__(
        self, secret: str, clock: Clock, path: str = "/hooks/taskwatch", auth_clock: Clock | None = None
    ) -> None:
        super().__init__(clock, auth_clock)
        standard_webhook_key(secret)  # a secret that is not base64 is a test's mistake: fail at once
        if not path.startswith("/"):
            raise ValueError(f"a webhook path starts with '/': {path!r}")
        self.secret = secret
        self.path = path
        self.success_status = 204
        self.deliveries: list[Delivery] = []
        self.seen_ids: set[str] = set()
        self._duplicates = 0

    @property
    def duplicates(self) -> int:
        """How many verified requests repeated a ``webhook-id`` already accepted."""
        with self.lock:
            return self._duplicates

    def text_of(self, msg: dict[str, Any]) -> str:
        text = msg.get("text")
        return text if isinstance(text, str) else ""

    def ids(self) -> list[str]:
        """The ``webhook-id`` of each accepted delivery, in order."""
        with self.lock:
            return [d.id for d in self.deliveries]

    def render_fault(self, fault: Fault, req: Request) -> Response:
        if fault.kind == "malformed":
            # A 2xx the sender counts as delivered although nothing was recorded.
            return Response(200, b"<html>upstream error</html>", "text/html")
        # A generic receiver has no error codes of its own: ``errcode`` answers like ``status``.
        return Response(fault.status, html_page(fault.status, fault.code), "text/html")

    def handle(self, req: Request) -> Response:
        if req.path != self.path:
            return _plain(404, "not found")
        if req.method != "POST":
            return _plain(405, "method not allowed")
        msg_id, stamp, signatures = (req.header(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
        if not msg_id or not stamp or not signatures:
            return _plain(400, "missing required headers")
        if not stamp.isdigit():
            return _plain(400, "invalid webhook-timestamp")
        if abs(int(stamp) - self.auth_clock()) > TOLERANCE_S:
            return _plain(401, "message timestamp too old or too new")
        if not self._verified(msg_id, stamp, signatures, req.body):
            return _plain(401, "no matching signature found")
        try:
            msg = json.loads(req.body)
        except ValueError:
            return _plain(400, "body is not JSON")
        if not isinstance(msg, dict):
            return _plain(400, "body is not a JSON object")
        with self._arrived:
            if msg_id in self.seen_ids:
                self._duplicates += 1
                return Response(self.success_status)
            self.seen_ids.add(msg_id)
            self.deliveries.append(Delivery(msg_id, int(stamp), msg))
            self._store(msg)
        self._announce(msg)
        return Response(self.success_status)

    def _verified(self, msg_id: str, stamp: str, signatures: str, body: bytes) -> bool:
        expected = standard_webhook_sign(self.secret, msg_id, stamp, body).partition(",")[2]
        for entry in signatures.split(" "):
            version, _, sig = entry.partition(",")
            # Other versions (v1a: asymmetric) are skipped, not refused: a list may mix them.
            if version == "v1" and hmac.compare_digest(sig.encode(), expected.encode()):
                return True
        return False


def _plain(status: int, text: str) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8")
