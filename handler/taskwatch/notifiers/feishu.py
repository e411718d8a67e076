"""Feishu (飞书) custom bot: an interactive card, a pure signing function, a client on requests.

Lark, Feishu's international edition, is the same bot on another host: ``lark.py`` reuses all of
this. The card's header carries the title (red when a run failed or a change is urgent) and one
``lark_md`` element the digest; a mention pings as ``<at id=ou_…></at>`` in that element. Feishu
answers ``{"code": N}`` (older bots ``{"StatusCode": N}``), mostly with HTTP 200: success is
``code == 0`` only. The request body must stay under 20,000 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..digest import DigestStyle, Message
from ..ports import DeliveryError, Timeouts
from ..redact import scrub, url_secrets
from . import _entry
from ._base import ChatNotifier
from ._http import JSON, Poster

if TYPE_CHECKING:
    from requests import Response

    from ..config import ChannelEntry

TYPE = "feishu"
HOST = "open.feishu.cn"
MAX_BYTES = 19_999  # the body must be under 20,000 bytes
OPEN_ID_RE = re.compile(r"^ou_[A-Za-z0-9_-]{1,64}$")  # nothing that could end the <at> tag
EVERYONE = "all"
HOOK_RE = re.compile(r"^/open-apis/bot/v2/hook/[^/]+$")
RATE_LIMITED = 11232
# Codes that no retry can fix: the message names the setting to change.
CONFIG_ERRORS = {
    19021: "signature check failed: check the [[channel]] secret (sign mode) and the clock",
    19024: "keyword check failed: check the [[channel]] keyword (keyword mode)",
    19001: "the hook token is invalid: check the [[channel]] url",
    9499: "bad request: the bot refused the card",
}
STAMP_ROOM = ("0" * 10, "0" * 44)  # a timestamp in seconds and a signature: the budget counts them


@dataclass(frozen=True)
class Options:
    webhook: str = field(repr=False)  # its hook token is a credential
    secret: str | None = field(default=None, repr=False)  # sign mode
    mentions: tuple[str, ...] = ()  # open ids (ou_…) or "all", pinged on urgent digests
    keyword: str | None = None  # keyword mode: the text must contain it


def sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key="{timestamp}\\n{secret}", msg=empty)): the key and message are
    the other way round from DingTalk's."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def accepts_mention(value: str) -> bool:
    """Feishu pings by open id (``ou_…``), or everyone with ``all``."""
    return value == EVERYONE or bool(OPEN_ID_RE.match(value))


def mention_text(ids: tuple[str, ...]) -> str:
    return " ".join(f"<at id={value}></at>" for value in ids)


def card_text(message: Message, keyword: str | None) -> str:
    """The digest without its "#### title" line (the card's header shows the title; lark_md has
    no headings), and with the keyword, which the bot looks for in the text."""
    text = message.text
    heading = f"#### {message.title}"
    if text.startswith(heading):
        text = text[len(heading) :].lstrip("\n")
    if keyword and keyword not in text:
        text = f"{text}\n\n{keyword}" if text else keyword
    return text


def payload(message: Message, keyword: str | None = None, stamp: tuple[str, str] | None = None) -> dict[str, Any]:
    # Scrubbed here, at the last step before the chat: a remote service's error text may echo a
    # credential anywhere in a digest.
    data: dict[str, Any] = {}
    if stamp:
        data["timestamp"], data["sign"] = stamp
    data["msg_type"] = "interactive"
    data["card"] = {
        "config": {"wide_screen_mode": True},
        "header": {
            "title": {"tag": "plain_text", "content": scrub(message.title)},
            "template": "red" if message.failed or message.urgent else "blue",
        },
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": scrub(card_text(message, keyword))}}],
    }
    return data


def body(message: Message, keyword: str | None = None, stamp: tuple[str, str] | None = None) -> bytes:
    """The exact request body sent for ``message``; the digest's size budget measures this too."""
    return json.dumps(payload(message, keyword, stamp), ensure_ascii=False).encode()


def style(mentions: tuple[str, ...] = (), keyword: str | None = None, signed: bool = False) -> DigestStyle:
    stamp = STAMP_ROOM if signed else None
    return DigestStyle(
        measure=lambda message: len(body(message, keyword, stamp)),
        max_bytes=MAX_BYTES,
        mentions=mentions,
        mention_text=mention_text,
        keyword=keyword,
    )


class FeishuNotifier(ChatNotifier[Options]):
    """Feishu's bot, or Lark's: the name in errors is the Poster's platform."""

    def __init__(self, options: Options, http: Poster, *, clock: Callable[[], float] = time.time) -> None:
        signed = bool(options.secret)
        super().__init__(options, http, style(options.mentions, options.keyword, signed=signed), accepts_mention)
        self._clock = clock

    def send(self, message: Message, key: str | None = None) -> None:
        self._http.with_retry(lambda: self._send_once(message))

    def _send_once(self, message: Message) -> None:
        stamp = None
        secret = self._options.secret
        if secret:
            timestamp = int(self._clock())  # signed again on a retry: the bot refuses old timestamps
            stamp = (str(timestamp), sign(secret, timestamp))
        data = body(message, self._options.keyword, stamp)
        response = self._http.post(self._options.webhook, data, JSON)
        self._check(response)

    def _check(self, response: Response) -> None:
        try:
            answer = self._http.json_object(response)
            code = int(answer["code"] if "code" in answer else answer["StatusCode"])
        except (DeliveryError, KeyError, TypeError, ValueError):
            # No code to read: the HTTP status says it (a gateway's 502, a 404 for a wrong path).
            if not 200 <= response.status_code < 300:
                raise self._http.status_error(response) from None
            raise DeliveryError(
                f"{self._http.platform} answered something that is not its JSON", retryable=True
            ) from None
        if code == 0:
            return
        said = self._http.excerpt(answer.get("msg", answer.get("StatusMessage", "")))
        rate_limit = (RATE_LIMITED, "over 100 messages a minute or 5 a second")
        err = self._http.code_error(code, said, label="code", rate_limit=rate_limit, refused=CONFIG_ERRORS)
        if 400 <= response.status_code < 500 and not err.rate_limited:
            err.retryable = False  # an unknown code with a 4xx: the request itself was refused
        raise err


# --- what the registry needs ---------------------------------------------------------------------


def from_env(env: Mapping[str, str]) -> Options | None:
    return None  # configured only in the config file


def options_from(entry: ChannelEntry, host: str) -> Options:
    """A ``[[channel]]`` of this bot; ``host`` is the one the error shows as the example."""
    example = f"the bot's webhook URL, https://{host}/open-apis/bot/v2/hook/…"
    webhook = _entry.url(entry, lambda parts: bool(HOOK_RE.match(parts.path)), example)
    mentions = _entry.mentions(entry, accepts_mention, 'an open id (ou_…) or "all"')
    return Options(webhook=webhook, secret=entry.secret, mentions=mentions, keyword=entry.keyword)


def from_entry(entry: ChannelEntry) -> Options:
    """A config file's ``[[channel]]`` of type feishu."""
    return options_from(entry, HOST)


def secrets(options: Options) -> list[str | None]:
    return [options.secret, *url_secrets(options.webhook)]


def build(options: Options, timeouts: Timeouts, platform: str = "Feishu") -> FeishuNotifier:
    return FeishuNotifier(options, Poster(platform, secrets(options), timeouts=timeouts))
