"""WeCom (企业微信) group robot: markdown digests, and a text message that pings by mobile.

WeCom answers errors with HTTP 200 and ``{"errcode": N}``: success is ``errcode == 0`` only.
Its markdown cannot ping anyone by mobile, so an urgent digest is delivered in two parts: the
markdown, then a short ``text`` message with ``mentioned_mobile_list``. The second part only
pings: once the markdown is accepted the digest has reached the chat, so a mention that still
fails after its retry is logged (``mention_failed``) and the send succeeds; raising then would
make the caller post the whole digest a second time.

WeCom limits the markdown *content* to 4,096 bytes. The budget here measures the whole JSON body
instead, which is never smaller than the content (the envelope and any escaping only add to it):
a few dozen bytes of room are given up so that one rule, the body as sent, holds for every channel.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .. import logs
from ..digest import DigestStyle, Message, render, with_mentions
from ..model import Change
from ..ports import DEFAULT_TIMEOUTS, DeliveryError, Timeouts
from ..redact import scrub, url_secrets
from . import _entry
from ._http import Poster
from .dingtalk import MOBILE_RE

if TYPE_CHECKING:
    from ..config import ChannelEntry

TYPE = "wecom"
MAX_BYTES = 4_096
EVERYONE = "@all"  # WeCom's mention of the whole group
RATE_LIMITED = 45009
# Codes that no retry can fix: the message says what to change.
CONFIG_ERRORS = {
    40058: "message too long",
    93000: "the robot's key is invalid or the robot was removed: check the channel url",
    40008: "message type not accepted",
}
EXAMPLE = "the robot's webhook URL, https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"


@dataclass(frozen=True)
class Options:
    webhook: str = field(repr=False)  # its key is the robot's only credential
    mobiles: tuple[str, ...] = ()  # pinged on urgent digests, or "@all"


def accepts_mention(value: str) -> bool:
    """WeCom pings by mobile number through ``mentioned_mobile_list``; "@all" pings everyone."""
    return value == EVERYONE or bool(MOBILE_RE.match(value))


def mention_text(mobiles: tuple[str, ...]) -> str:
    """Nothing in the markdown: it cannot ping there; the text part that follows does."""
    return ""


def markdown(message: Message) -> str:
    text = message.text
    heading = f"#### {message.title}"
    if (message.failed or message.urgent) and text.startswith(heading):
        # WeCom markdown has three font colours; "warning" (orange) marks a digest that needs a look.
        text = f'#### <font color="warning">{message.title}</font>' + text[len(heading) :]
    return text


def payload(message: Message) -> dict[str, Any]:
    # Scrubbed here, at the last step before the chat: a remote service's error text may echo a
    # credential anywhere in a digest.
    return {"msgtype": "markdown", "markdown": {"content": scrub(markdown(message))}}


def body(message: Message) -> bytes:
    """The exact markdown request body sent for ``message``; the digest's budget measures this."""
    return json.dumps(payload(message), ensure_ascii=False).encode()


def mention_payload(message: Message) -> dict[str, Any]:
    urgent = sum(1 for change in message.changes if change.urgent) or 1
    line = f"taskwatch: {urgent} urgent change{'s' if urgent != 1 else ''} in the digest above"
    return {"msgtype": "text", "text": {"content": scrub(line), "mentioned_mobile_list": list(message.at_mobiles)}}


def style(mobiles: tuple[str, ...] = ()) -> DigestStyle:
    return DigestStyle(
        measure=lambda message: len(body(message)), max_bytes=MAX_BYTES, mentions=mobiles, mention_text=mention_text
    )


class WeComNotifier:
    def __init__(
        self,
        webhook: str,
        *,
        mobiles: tuple[str, ...] = (),
        sleep: Callable[[float], None] = time.sleep,
        retries: int = 1,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> None:
        self._http = Poster("WeCom", url_secrets(webhook), timeouts=timeouts, sleep=sleep, retries=retries)
        self._webhook = webhook
        self._style = style(mobiles)

    def digest(self, changes: list[Change], mentions: tuple[str, ...] = ()) -> Message:
        return render(changes, with_mentions(self._style, tuple(m for m in mentions if accepts_mention(m))))

    def send(self, message: Message, key: str | None = None) -> None:
        """The markdown, then (urgent digests) the ping. Only the markdown's failure is raised."""
        markdown_body = body(message)
        self._http.with_retry(lambda: self._post(markdown_body))
        if not message.at_mobiles:
            return
        ping = json.dumps(mention_payload(message), ensure_ascii=False).encode()
        try:
            self._http.with_retry(lambda: self._post(ping))
        except DeliveryError as err:
            logs.event("mention_failed", logging.WARNING, channel=TYPE, code=err.code, cause=str(err))

    def _post(self, data: bytes) -> None:
        response = self._http.post(self._webhook, data, {"Content-Type": "application/json; charset=utf-8"})
        if response.status_code != 200:
            raise self._http.status_error(response)
        answer = self._http.json_object(response)
        self._http.check_errcode(answer, rate_limit=(RATE_LIMITED, "over 20 messages a minute"), refused=CONFIG_ERRORS)


# --- what the registry needs ---------------------------------------------------------------------


def from_env(env: Mapping[str, str]) -> Options | None:
    return None  # configured only in the config file


def from_entry(entry: ChannelEntry) -> Options:
    """A config file's ``[[channel]]`` of type wecom."""
    webhook = _entry.url(entry, lambda parts: bool(parse_qs(parts.query).get("key", [""])[0]), EXAMPLE)
    _entry.refuse(entry, "secret", "are not signed (the key in the url is the credential)")
    _entry.refuse(entry, "keyword", "have no keyword mode")
    return Options(webhook=webhook, mobiles=_entry.mentions(entry, accepts_mention, 'a mobile number or "@all"'))


def secrets(options: Options) -> list[str | None]:
    return [*url_secrets(options.webhook)]


def build(options: Options, timeouts: Timeouts) -> WeComNotifier:
    return WeComNotifier(options.webhook, mobiles=options.mobiles, timeouts=timeouts)
