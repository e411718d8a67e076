"""Slack incoming webhook: the digest as mrkdwn ``section`` blocks, a client on requests.

Slack takes at most 50 blocks and 3,000 characters in a section's text; a paragraph of the digest
(the title, each task's block, "+N more", the mentions) is one section, cut at line ends when it
is longer. Slack documents no byte limit for the body, only 40,000 characters for a message's
text: that is the budget here, which also keeps a digest readable. A measure of a message needing
more than 50 blocks is over the budget, so the renderer cuts it to "+N more" as it cuts bytes.
Text is escaped (``&``, ``<``, ``>``): a remote error text can then neither ping the channel
(``<!channel>``) nor hide a link; only the mentions the digest makes stay real.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..digest import DigestStyle, Message
from ..ports import DeliveryError, Timeouts
from ..redact import scrub, url_secrets
from . import _entry
from ._base import ChatNotifier
from ._http import Poster

if TYPE_CHECKING:
    from requests import Response

    from ..config import ChannelEntry

TYPE = "slack"
MAX_BYTES = 40_000
MAX_BLOCKS = 50
MAX_SECTION = 3_000  # characters, counted as UTF-16 units so that an emoji counts as two
MEMBER_RE = re.compile(r"^[UW][A-Z0-9]{2,20}$")
SERVICES_RE = re.compile(r"^/services/[^/]+/[^/]+/[^/]+$")
BOLD_RE = re.compile(r"\*\*(.+?)\*\*")
HEADING_RE = re.compile(r"(?m)^#{1,6} (.+)$")
EXAMPLE = "the incoming webhook URL, https://hooks.slack.com/services/…"


@dataclass(frozen=True)
class Options:
    webhook: str = field(repr=False)  # the last part of its path is the credential
    members: tuple[str, ...] = ()  # member ids (U…, W…) pinged on urgent digests


def accepts_mention(value: str) -> bool:
    """Slack pings by member id."""
    return bool(MEMBER_RE.match(value))


def mention_text(members: tuple[str, ...]) -> str:
    return " ".join(f"<@{member}>" for member in members)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str, members: tuple[str, ...]) -> str:
    """The digest's markdown as Slack's: ``*bold*``, headings as bold lines, the rest escaped."""
    out = escape(text)
    for member in members:
        out = out.replace(f"&lt;@{member}&gt;", f"<@{member}>")
    return HEADING_RE.sub(r"*\1*", BOLD_RE.sub(r"*\1*", out))


def _width(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut(line: str) -> tuple[str, str]:
    """A line longer than a section: its longest head that fits, never ending inside an entity."""
    width, end = 0, len(line)
    for i, char in enumerate(line):
        width += 2 if ord(char) > 0xFFFF else 1
        if width > MAX_SECTION:
            end = i
            break
    head = line[:end]
    amp = head.rfind("&", max(0, len(head) - 5))
    if amp > 0 and ";" not in head[amp:]:
        head = head[:amp]
    return head, line[len(head) :]


def pieces(paragraph: str) -> list[str]:
    """The paragraph as section texts of at most MAX_SECTION, cut at line ends where it can be."""
    out: list[str] = []
    current = ""
    for whole in paragraph.split("\n"):
        line = whole
        while _width(line) > MAX_SECTION:
            head, line = _cut(line)
            out += [current, head]
            current = ""
        joined = f"{current}\n{line}" if current else line
        if _width(joined) > MAX_SECTION:
            out.append(current)
            joined = line
        current = joined
    out.append(current)
    return [piece for piece in out if piece.strip()]  # Slack refuses an empty section


def payload(message: Message) -> dict[str, Any]:
    # Scrubbed here, at the last step before the chat: a remote service's error text may echo a
    # credential anywhere in a digest.
    text = mrkdwn(scrub(message.text), message.at_mobiles)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
        for paragraph in text.split("\n\n")
        for piece in pieces(paragraph)
    ]
    # The fallback text is what notifications show; the mentions in it make sure they ping.
    fallback = escape(scrub(message.title))
    if message.at_mobiles:
        fallback += " " + mention_text(message.at_mobiles)
    return {"text": fallback, "blocks": blocks}


def body(message: Message) -> bytes:
    """The exact request body sent for ``message``."""
    return json.dumps(payload(message), ensure_ascii=False).encode()


def measure(message: Message) -> int:
    """The body's bytes, or more than the budget when it needs more blocks than Slack takes."""
    data = payload(message)
    if len(data["blocks"]) > MAX_BLOCKS:
        return MAX_BYTES + 1
    return len(json.dumps(data, ensure_ascii=False).encode())


def style(members: tuple[str, ...] = ()) -> DigestStyle:
    return DigestStyle(measure=measure, max_bytes=MAX_BYTES, mentions=members, mention_text=mention_text)


class SlackNotifier(ChatNotifier[Options]):
    def __init__(self, options: Options, http: Poster) -> None:
        super().__init__(options, http, style(options.members), accepts_mention)

    def send(self, message: Message, key: str | None = None) -> None:
        self._http.deliver(self._options.webhook, body(message), self._check)

    def _check(self, response: Response) -> None:
        if not 200 <= response.status_code < 300:
            # 400 invalid_payload, 403 invalid_token, 404 no_service / channel_not_found, 410
            # channel_is_archived: none passes on a second try; 429 is a rate limit, 5xx may.
            raise self._http.status_error(response)
        if response.text.strip() != "ok":
            said = self._http.excerpt(response.text)
            raise DeliveryError(f"Slack answered {said!r} instead of ok", retryable=True)


# --- what the registry needs ---------------------------------------------------------------------


def from_env(env: Mapping[str, str]) -> Options | None:
    return None  # configured only in the config file


def from_entry(entry: ChannelEntry) -> Options:
    """A config file's ``[[channel]]`` of type slack."""
    webhook = _entry.unsigned_url(entry, lambda parts: bool(SERVICES_RE.match(parts.path)), EXAMPLE, "the url")
    return Options(webhook=webhook, members=_entry.mentions(entry, accepts_mention, "a member id (U…, W…)"))


def secrets(options: Options) -> list[str | None]:
    return [*url_secrets(options.webhook)]


def build(options: Options, timeouts: Timeouts) -> SlackNotifier:
    return SlackNotifier(options, Poster("Slack", secrets(options), timeouts=timeouts))
