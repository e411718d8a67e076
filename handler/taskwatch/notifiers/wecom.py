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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qs

from .. import logs
from ..digest import DigestStyle, Message
from ..ports import DeliveryError, Timeouts
from ..redact import scrub, url_secrets
from . import _entry
from ._base import ChatNotifier
from ._http import Poster
from .dingtalk import MOBILE_RE

if TYPE_CHECKING:
    from requests import Response

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


def _has_key(parts: SplitResult) -> bool:
    """The shape of a robot's URL: its ``key`` parameter is the robot's credential."""
    return bool(parse_qs(parts.query).get("key", [""])[0])


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


class WeComNotifier(ChatNotifier[Options]):
    def __init__(self, options: Options, http: Poster) -> None:
        super().__init__(options, http, style(options.mobiles), accepts_mention)

    def send(self, message: Message, key: str | None = None) -> None:
        """The markdown, then (urgent digests) the ping. Only the markdown's failure is raised."""
        self._http.deliver(self._options.webhook, body(message), self._check)
        if not message.at_mobiles:
            return
        ping = json.dumps(mention_payload(message), ensure_ascii=False).encode()
        try:
            self._http.deliver(self._options.webhook, ping, self._check)
        except DeliveryError as err:
            logs.event("mention_failed", logging.WARNING, channel=TYPE, code=err.code, cause=str(err))

    def _check(self, response: Response) -> None:
        if response.status_code != 200:
            raise self._http.status_error(response)
        answer = self._http.json_object(response)
        self._http.check_errcode(answer, rate_limit=(RATE_LIMITED, "over 20 messages a minute"), refused=CONFIG_ERRORS)


# --- what the registry needs ---------------------------------------------------------------------


def from_env(env: Mapping[str, str]) -> Options | None:
    return None  # configured only in the config file


def from_entry(entry: ChannelEntry) -> Options:
    """A config file's ``[[channel]]`` of type wecom."""
    webhook = _entry.unsigned_url(entry, _has_key, EXAMPLE, "the key in the url")
    return Options(webhook=webhook, mobiles=_entry.mentions(entry, accepts_mention, 'a mobile number or "@all"'))


def secrets(options: Options) -> list[str | None]:
    return [*url_secrets(options.webhook)]


def build(options: Options, timeouts: Timeouts) -> WeComNotifier:
    return WeComNotifier(options, Poster("WeCom", secrets(options), timeouts=timeouts))
