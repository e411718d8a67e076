"""A generic webhook: every change of a digest as JSON, signed as Standard Webhooks specify.

The body is ``{"id", "source": "taskwatch", "title", "text", "changes"}``, with every change the
digest stands for (the receiver is a program: there is no budget and nothing is cut). Headers:
``webhook-id`` (the digest's id, the same on every attempt, so a receiver can drop a second
delivery), ``webhook-timestamp`` (seconds) and, with a ``whsec_…`` secret, ``webhook-signature``
``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed by the base64-decoded part after
``whsec_``. Any 2xx is accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..digest import DigestStyle, Message
from ..ports import Timeouts
from ..redact import mask, scrub_value, url_secrets
from . import _entry
from ._base import ChatNotifier
from ._http import Poster

if TYPE_CHECKING:
    from ..config import ChannelEntry

TYPE = "webhook"
SECRET_PREFIX = "whsec_"
SOURCE = "taskwatch"
KEY_ROOM = "0" * 32  # a digest id's length


@dataclass(frozen=True)
class Options:
    url: str = field(repr=False)  # may carry a token
    secret: str | None = field(default=None, repr=False)  # whsec_…: the body is signed


def signing_key(secret: str) -> bytes:
    """The key a ``whsec_…`` secret stands for; ValueError if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"does not start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError(f"is not base64 after {SECRET_PREFIX}") from None
    if not key:
        raise ValueError(f"has no key after {SECRET_PREFIX}")
    return key


def signature(secret: str, message_id: str, timestamp: int, data: bytes) -> str:
    mac = hmac.new(signing_key(secret), f"{message_id}.{timestamp}.".encode() + data, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def accepts_mention(value: str) -> bool:
    return False  # a program reads it: nobody to ping


def content(message: Message) -> dict[str, Any]:
    # Scrubbed here, at the last step before the receiver: a remote service's error text may echo
    # a credential in a change's detail as well as in the text.
    scrubbed: dict[str, Any] = scrub_value(
        {
            "source": SOURCE,
            "title": message.title,
            "text": message.text,
            "changes": [change.to_json() for change in message.changes],
        }
    )
    return scrubbed


def message_id(message: Message, key: str | None) -> str:
    """The digest's id; without one, a hash of the content, so a retry still carries the same id."""
    if key:
        return key
    return hashlib.sha256(json.dumps(content(message), ensure_ascii=False).encode()).hexdigest()[:32]


def body(message: Message, msg_id: str) -> bytes:
    """The exact request body sent for ``message``."""
    return json.dumps({"id": msg_id, **content(message)}, ensure_ascii=False).encode()


# No max_bytes: every change is shown, so the renderer never needs the measure.
STYLE = DigestStyle(measure=lambda message: len(body(message, KEY_ROOM)))


class WebhookNotifier(ChatNotifier[Options]):
    def __init__(self, options: Options, http: Poster, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(options, http, STYLE, accepts_mention)  # accepts none: the digest pings nobody
        self._clock = clock

    def send(self, message: Message, key: str | None = None) -> None:
        msg_id = message_id(message, key)
        data = body(message, msg_id)
        self._http.with_retry(lambda: self._send_once(msg_id, data))

    def _send_once(self, msg_id: str, data: bytes) -> None:
        timestamp = int(self._clock())  # signed again on a retry: receivers refuse old timestamps
        headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
        if self._options.secret:
            headers["webhook-signature"] = signature(self._options.secret, msg_id, timestamp, data)
        response = self._http.post(self._options.url, data, headers)
        if not 200 <= response.status_code < 300:
            raise self._http.status_error(response)


# --- what the registry needs ---------------------------------------------------------------------


def from_env(env: Mapping[str, str]) -> Options | None:
    return None  # configured only in the config file


def from_entry(entry: ChannelEntry) -> Options:
    """A config file's ``[[channel]]`` of type webhook."""
    from ..config import ConfigError

    url = _entry.url(entry, lambda parts: True, "an https:// URL")
    if entry.secret is not None:
        try:
            signing_key(entry.secret)
        except ValueError as err:
            raise ConfigError(
                f"{entry.path}.secret", f"{mask(entry.secret)!r} {err}: a Standard Webhooks secret is whsec_<base64>"
            ) from None
    _entry.mentions(entry, accepts_mention, "a mention here: a webhook pings nobody")
    _entry.refuse(entry, "keyword", "have no keyword mode")
    return Options(url=url, secret=entry.secret)


def secrets(options: Options) -> list[str | None]:
    return [options.secret, *url_secrets(options.url)]


def build(options: Options, timeouts: Timeouts) -> WebhookNotifier:
    return WebhookNotifier(options, Poster("Webhook", secrets(options), timeouts=timeouts))
