"""DingTalk custom robot: its limits and mention style, a pure signing function, a client on requests.

DingTalk answers errors with HTTP 200 and ``{"errcode": N}``: success is ``errcode == 0`` only. A
mention pings only if ``@mobile`` is also in the text; a body over 20,000 bytes is refused (460101).
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
from urllib.parse import parse_qs, urlsplit

from ..model import Change
from ..ports import DeliveryError, Timeouts
from ..redact import mask_url, scrub, url_secrets
from ..setting_values import ErrorType, SettingsError, webhook_url
from ._base import ChatNotifier
from ._http import JSON, Poster

if TYPE_CHECKING:
    from ..config import ChannelEntry
    from ..digest import DigestStyle, Message

# Codes that no retry can fix: the message names the setting to change.
# A config file's channel has no DINGTALK_* variables: its keys are named too.
CONFIG_ERRORS = {
    310000: "security check failed: check DINGTALK_SECRET or the channel's secret (sign mode), "
    "DINGTALK_KEYWORD or the channel's keyword (keyword mode), the robot's IP allow-list, and the clock",
    300001: "the robot's access_token is invalid: check DINGTALK_WEBHOOK or the channel's url",
    300005: "the robot's access_token does not exist: check DINGTALK_WEBHOOK or the channel's url",
    400101: "the robot's access_token is invalid: check DINGTALK_WEBHOOK or the channel's url",
    460101: "message too large",
}
RATE_LIMITED = 130101
BUSY = -1
TYPE = "dingtalk"
MAX_BYTES = 20_000
MOBILE_RE = re.compile(r"^\+?[0-9][0-9-]{3,19}$")
KEY_ROOM = "0" * 32  # a digest id's length: the budget counts the msgUuid that send adds


@dataclass(frozen=True)
class Options:
    webhook: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)  # sign mode
    mobiles: tuple[str, ...] = ()  # pinged on urgent digests
    keyword: str | None = None  # keyword mode: the text must contain it


def sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}")); URL-encoding is the caller's (once)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def payload(message: Message, key: str | None = None) -> dict[str, Any]:
    # Scrubbed here, at the last step before the chat: a remote service's error text may echo a
    # credential anywhere in a digest.
    data: dict[str, Any] = {
        "msgtype": "markdown",
        "markdown": {"title": scrub(message.title), "text": scrub(message.text)},
        "at": {"atMobiles": list(message.at_mobiles), "isAtAll": False},
    }
    if key:
        data["msgUuid"] = key  # the digest id; not documented that DingTalk drops a repeat of it
    return data


def body(message: Message, key: str | None = None) -> bytes:
    """The exact request body sent for ``message``; the digest's size budget measures this too."""
    return json.dumps(payload(message, key), ensure_ascii=False).encode()


def accepts_mention(value: str) -> bool:
    """DingTalk pings by mobile number."""
    return bool(MOBILE_RE.match(value))


def mention_text(mobiles: tuple[str, ...]) -> str:
    """DingTalk pings a mobile only if "@mobile" also appears in the text."""
    return " ".join(f"@{mobile}" for mobile in mobiles)


def style(mobiles: tuple[str, ...] = (), keyword: str | None = None) -> DigestStyle:
    from ..digest import DigestStyle  # loaded when a client is built: a tick with something to send

    return DigestStyle(
        measure=lambda message: len(body(message, KEY_ROOM)),
        max_bytes=MAX_BYTES,
        mentions=mobiles,
        mention_text=mention_text,
        keyword=keyword,
    )


def digest(changes: list[Change], mobiles: tuple[str, ...] = (), keyword: str | None = None) -> Message:
    from ..digest import render

    return render(changes, style(mobiles, keyword))


class DingTalkNotifier(ChatNotifier[Options]):
    def __init__(self, options: Options, http: Poster, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(options, http, style(options.mobiles, options.keyword), accepts_mention)
        self._clock = clock

    def send(self, message: Message, key: str | None = None) -> None:
        self._http.with_retry(lambda: self._send_once(message, key))

    def _send_once(self, message: Message, key: str | None) -> None:
        params: dict[str, str] = {}
        secret = self._options.secret
        if secret:
            timestamp = int(self._clock() * 1000)
            params = {"timestamp": str(timestamp), "sign": sign(secret, timestamp)}
        response = self._http.post(self._options.webhook, body(message, key), JSON, params)
        if response.status_code != 200:
            raise DeliveryError(f"DingTalk answered HTTP {response.status_code}", retryable=True)
        answer = self._http.json_object(response)
        self._http.check_errcode(answer, rate_limit=(RATE_LIMITED, "over 20 messages a minute"), refused=CONFIG_ERRORS)


# --- what the registry needs ---------------------------------------------------------------------


def robot_url(raw: str, label: str, error: ErrorType) -> str:
    """An https:// robot URL that carries its access_token."""
    webhook = webhook_url(raw, label, error)
    if not parse_qs(urlsplit(webhook).query).get("access_token", [""])[0]:
        raise error(label, f"{mask_url(webhook)!r} has no access_token parameter")
    return webhook


def from_env(env: Mapping[str, str]) -> Options | None:
    """The channel the DINGTALK_* variables describe, or None without DINGTALK_WEBHOOK (the other
    variables are checked all the same: a typo is reported before it is needed)."""
    mobiles = tuple(m for m in re.split(r"[,\s]+", env.get("DINGTALK_AT_MOBILES", "")) if m)
    for mobile in mobiles:
        if not MOBILE_RE.match(mobile):
            raise SettingsError("DINGTALK_AT_MOBILES", f"{mobile!r} is not a mobile number")
    raw = env.get("DINGTALK_WEBHOOK", "").strip()
    if not raw:
        for variable in ("DINGTALK_SECRET", "DINGTALK_AT_MOBILES", "DINGTALK_KEYWORD"):
            if env.get(variable, "").strip():  # a robot half configured must not fall back to stdout quietly
                raise SettingsError(variable, "is set but DINGTALK_WEBHOOK is not: set the robot's URL too")
        return None
    webhook = robot_url(raw, "DINGTALK_WEBHOOK", SettingsError)
    return Options(
        webhook=webhook,
        secret=env.get("DINGTALK_SECRET", "").strip() or None,
        mobiles=mobiles,
        keyword=env.get("DINGTALK_KEYWORD", "").strip() or None,
    )


def from_entry(entry: ChannelEntry) -> Options:
    """A config file's ``[[channel]]`` of type dingtalk."""
    from ..config import ConfigError

    if not entry.url:
        raise ConfigError(f"{entry.path}.url", "is required: the robot's webhook URL with its access_token")
    webhook = robot_url(entry.url, f"{entry.path}.url", ConfigError)
    for i, mobile in enumerate(entry.mention):
        if not MOBILE_RE.match(mobile):
            raise ConfigError(f"{entry.path}.mention[{i}]", f"{mobile!r} is not a mobile number")
    return Options(webhook=webhook, secret=entry.secret, mobiles=entry.mention, keyword=entry.keyword)


def secrets(options: Options) -> list[str | None]:
    return [options.secret, *url_secrets(options.webhook)]


def build(options: Options, timeouts: Timeouts) -> DingTalkNotifier:
    return DingTalkNotifier(options, Poster("DingTalk", secrets(options), timeouts=timeouts))
