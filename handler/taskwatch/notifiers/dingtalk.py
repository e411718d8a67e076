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

from ..digest import DigestStyle, Message, render
from ..model import Change
from ..ports import DEFAULT_TIMEOUTS, DeliveryError, Timeouts
from ..redact import mask_url, scrub, url_secrets
from ..setting_values import ErrorType, SettingsError, webhook_url

if TYPE_CHECKING:
    from ..config import ChannelEntry

# Codes that no retry can fix: the message names the setting to change.
CONFIG_ERRORS = {
    310000: "security check failed: check DINGTALK_SECRET (sign mode), DINGTALK_KEYWORD (keyword mode), "
    "the robot's IP allow-list, and the clock",
    300001: "the robot's access_token is invalid: check DINGTALK_WEBHOOK",
    300005: "the robot's access_token does not exist: check DINGTALK_WEBHOOK",
    400101: "the robot's access_token is invalid: check DINGTALK_WEBHOOK",
    460101: "message too large",
}
RATE_LIMITED = 130101
BUSY = -1
TYPE = "dingtalk"
MAX_BYTES = 20_000
MOBILE_RE = re.compile(r"^\+?[0-9][0-9-]{3,19}$")


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


def payload(message: Message) -> dict[str, Any]:
    # Scrubbed here, at the last step before the chat: a remote service's error text may echo a
    # credential anywhere in a digest.
    return {
        "msgtype": "markdown",
        "markdown": {"title": scrub(message.title), "text": scrub(message.text)},
        "at": {"atMobiles": list(message.at_mobiles), "isAtAll": False},
    }


def body(message: Message) -> bytes:
    """The exact request body sent for ``message``; the digest's size budget measures this too."""
    return json.dumps(payload(message), ensure_ascii=False).encode()


def mention_text(mobiles: tuple[str, ...]) -> str:
    """DingTalk pings a mobile only if "@mobile" also appears in the text."""
    return " ".join(f"@{mobile}" for mobile in mobiles)


def style(mobiles: tuple[str, ...] = (), keyword: str | None = None) -> DigestStyle:
    return DigestStyle(
        measure=lambda message: len(body(message)),
        max_bytes=MAX_BYTES,
        mentions=mobiles,
        mention_text=mention_text,
        keyword=keyword,
    )


def digest(changes: list[Change], mobiles: tuple[str, ...] = (), keyword: str | None = None) -> Message:
    return render(changes, style(mobiles, keyword))


class DingTalkNotifier:
    def __init__(
        self,
        webhook: str,
        secret: str | None = None,
        *,
        mobiles: tuple[str, ...] = (),
        keyword: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        retries: int = 1,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> None:
        import requests

        self._requests = requests
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy from the environment for a webhook call
        self._webhook = webhook
        self._secret = secret
        self._clock = clock
        self._sleep = sleep
        self._retries = retries
        self._timeout = (timeouts.chat_connect, timeouts.chat_read)
        self._backoff = timeouts.chat_backoff
        self._style = style(mobiles, keyword)

    def digest(self, changes: list[Change]) -> Message:
        return render(changes, self._style)

    def send(self, message: Message) -> None:
        attempt = 0
        while True:
            try:
                self._send_once(message)
                return
            except DeliveryError as err:
                # Only busy/5xx/timeouts are worth a second try now; a rate limit lasts minutes.
                if not err.retryable or err.code == RATE_LIMITED or attempt >= self._retries:
                    raise
                attempt += 1
                self._sleep(self._backoff * attempt)

    def _send_once(self, message: Message) -> None:
        params: dict[str, str] = {}
        if self._secret:
            timestamp = int(self._clock() * 1000)
            params = {"timestamp": str(timestamp), "sign": sign(self._secret, timestamp)}
        try:
            response = self._session.post(
                self._webhook,
                params=params,
                data=body(message),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self._timeout,
            )
        except self._requests.Timeout:
            raise DeliveryError("DingTalk timed out", retryable=True) from None
        except self._requests.RequestException as err:
            raise DeliveryError(f"DingTalk unreachable: {type(err).__name__}", retryable=True) from None
        if response.status_code != 200:
            raise DeliveryError(f"DingTalk answered HTTP {response.status_code}", retryable=True)
        try:
            answer = response.json()
            code = int(answer.get("errcode"))
        except (ValueError, TypeError, AttributeError):
            raise DeliveryError("DingTalk answered something that is not its JSON", retryable=True) from None
        if code == 0:
            return
        errmsg = str(answer.get("errmsg", ""))[:200]
        if code == RATE_LIMITED:
            raise DeliveryError(
                "DingTalk rate limit (130101: over 20 messages a minute); the changes stay pending",
                retryable=True,
                code=code,
            )
        if code in CONFIG_ERRORS:
            raise DeliveryError(
                f"DingTalk errcode {code}: {CONFIG_ERRORS[code]} ({errmsg})", retryable=False, code=code
            )
        raise DeliveryError(f"DingTalk errcode {code}: {errmsg}", retryable=True, code=code)


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
    return DingTalkNotifier(
        options.webhook, options.secret, mobiles=options.mobiles, keyword=options.keyword, timeouts=timeouts
    )
