"""The values of settings: their types and parsers, each error naming the variable and the value.

``settings.load_settings`` reads the environment with these; nothing here reads it.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .redact import mask_url

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
HOST_RE = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:]+\](:[0-9]{1,5})?$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
MIN_TOKEN_LENGTH = 16  # TASKWATCH_HTTP_TOKEN: shorter tokens are refused everywhere
NO_CREDENTIALS = "no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET (and _SECURITY_TOKEN for STS keys)"
DEFAULT_CONCURRENCY = 16  # threads reading targets (and writing claims): best measured at 0.1 vCPU
MAX_TARGETS = 10_000  # the environment's 4 KB hold far fewer; a config file holds this many
HHMM = r"([01][0-9]|2[0-3]):([0-5][0-9])"


class SettingsError(ValueError):
    """A setting is missing or malformed; ``variable`` names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


ErrorType = Callable[[str, str], Exception]


@dataclass(frozen=True)
class NumberSetting:
    """A number set by an environment variable or a top-level key of the config file."""

    key: str  # in the config file
    variable: str  # in the environment
    default: float
    low: float
    high: float
    whole: bool = False

    def check(self, value: Any, label: str, error: ErrorType = SettingsError, shown: str | None = None) -> float:
        text = shown if shown is not None else repr(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise error(label, f"must be {'a whole number' if self.whole else 'a number'}, not {text}")
        if self.whole and (not math.isfinite(value) or value != int(value) or not self.low <= value <= self.high):
            raise error(label, f"{text} must be a whole number from {self.low:g} to {self.high:g}")
        if not math.isfinite(value) or not self.low <= value <= self.high:
            raise error(label, f"{text} must be between {self.low:g} and {self.high:g}")
        return int(value) if self.whole else float(value)

    def parse(self, raw: str) -> float:
        """The environment's text: the same rule, the variable named."""
        text = raw.strip()
        if self.whole:
            if not re.fullmatch(r"[0-9]+", text):
                raise SettingsError(
                    self.variable, f"{text!r} must be a whole number from {self.low:g} to {self.high:g}"
                )
            return self.check(int(text), self.variable, shown=repr(text))
        try:
            value = float(text)
        except ValueError:
            raise SettingsError(self.variable, f"{text!r} is not a number") from None
        return self.check(value, self.variable, shown=repr(text))


NUMBERS = (
    NumberSetting("progress_step", "TASKWATCH_PROGRESS_STEP", 25, 0, 100),
    NumberSetting("stall_minutes", "TASKWATCH_STALL_MINUTES", 60, 0, 60 * 24 * 365),
    NumberSetting("error_ticks", "TASKWATCH_ERROR_TICKS", 3, 1, 1000, whole=True),
    NumberSetting("concurrency", "TASKWATCH_CONCURRENCY", DEFAULT_CONCURRENCY, 1, 64, whole=True),
    NumberSetting("remind_hours", "TASKWATCH_REMIND_HOURS", 0, 0, 24 * 365),
    NumberSetting("regression_pct", "TASKWATCH_REGRESSION_PCT", 0, 0, 1000),
    NumberSetting("discover_minutes", "TASKWATCH_DISCOVER_MINUTES", 60, 0, 60 * 24 * 7),
)


def check_timezone(value: str, label: str, error: ErrorType = SettingsError) -> str:
    """An IANA zone name (zoneinfo) or a fixed offset ±HH:MM."""
    if re.fullmatch(r"[+-]" + HHMM, value) or value == "UTC":
        return value
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(value)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise error(label, f"{value!r} is not a time zone: an IANA name like Asia/Shanghai, or +08:00") from None
    return value


def check_quiet_hours(value: str, label: str, error: ErrorType = SettingsError) -> str:
    """``HH:MM-HH:MM`` in the configured zone (a window may cross midnight), or "" for none."""
    if value and not re.fullmatch(HHMM + "-" + HHMM, value):
        raise error(label, f"{value!r} is not a window like 23:00-08:00")
    if value and value[:5] == value[6:]:
        raise error(label, f"{value!r} starts and ends at the same minute")
    return value


@dataclass(frozen=True)
class TextSetting:
    key: str
    variable: str
    default: str
    check: Callable[[str, str, ErrorType], str]


TEXTS = (
    TextSetting("timezone", "TASKWATCH_TIMEZONE", "UTC", check_timezone),
    TextSetting("quiet_hours", "TASKWATCH_QUIET_HOURS", "", check_quiet_hours),
)


@dataclass(frozen=True)
class Target:
    """One watched task: ``appGroup/function/instance[@generation]``; generation None = latest."""

    app_group: str
    function: str
    instance: str
    generation: str | None = None

    @property
    def key(self) -> str:
        if self.is_wildcard:
            return f"{self.app_group}/*" if self.function == "*" else f"{self.app_group}/{self.function}/*"
        return f"{self.app_group}/{self.function}/{self.instance}@{self.generation or 'latest'}"

    @property
    def is_wildcard(self) -> bool:
        """``app/function/*`` or ``app/*``: the instances are listed (discovery), not named."""
        return self.instance == "*"


@dataclass(frozen=True)
class Channel:
    """Where digests go: a name, a notifier type (``notifiers.REGISTRY``) and that notifier's own
    options, a frozen dataclass its module reads and validates."""

    name: str
    type: str
    options: Any = field(repr=False)
    kinds: tuple[str, ...] | None = None  # only these kinds reach it (config file); None: every kind


@dataclass(frozen=True)
class Route:
    """Which channels the changes of some targets go to: a config file's ``[[watch]]``, or the
    environment's targets (every channel, every kind)."""

    targets: tuple[Target, ...]  # as written: wildcards match every instance they list
    channels: tuple[str, ...] | None = None  # None: every channel
    mention: tuple[str, ...] = ()  # the owners, pinged on these targets' urgent changes
    kinds: tuple[str, ...] | None = None  # None: every kind

    def covers(self, target_key: str) -> bool:
        """Whether a change's target (``app/fn/inst@gen``, or a wildcard's own key) is one of these."""
        for target in self.targets:
            if target.key == target_key:
                return True
            if target.is_wildcard:
                prefix = f"{target.app_group}/" if target.function == "*" else f"{target.app_group}/{target.function}/"
                if target_key.startswith(prefix):
                    return True
        return False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def webhook_url(raw: str, variable: str, error: ErrorType = SettingsError) -> str:
    """An https:// URL (http only for loopback hosts: tests and the local emulator), whose
    secrets stay masked in the error."""
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. an unclosed [ in the host: the error must still name the variable
        raise error(variable, f"{mask_url(raw)!r} is not an https:// URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise error(variable, f"{mask_url(raw)!r} is not an https:// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        # A webhook URL carries its token: only loopback may go unencrypted.
        raise error(variable, f"{mask_url(raw)!r} must be https:// (http only for loopback hosts)")
    return raw


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # "https" or "http"
    host: str  # host or host:port

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def is_local(self) -> bool:
        """An IP or localhost endpoint: OSS must use path-style addressing there."""
        name = self.host.rsplit(":", 1)[0] if not self.host.startswith("[") else self.host
        return name == "localhost" or name.startswith("[") or re.fullmatch(r"[0-9.]+", name) is not None


@dataclass(frozen=True)
class StateLocation:
    scheme: str  # "oss" or "file"
    bucket: str = ""
    prefix: str = ""  # OSS key prefix, "" or ending in "/"
    path: str = ""  # directory for file://

    def describe(self) -> str:
        return f"oss://{self.bucket}/{self.prefix}" if self.scheme == "oss" else f"file://{self.path}"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


def parse_targets(raw: str, variable: str = "TASKWATCH_TARGETS") -> tuple[Target, ...]:
    items = [item for item in re.split(r"[,\s]+", raw) if item]
    if not items:
        raise SettingsError(variable, "is empty; expected appGroup/function/instance[@generation]")
    if len(items) > MAX_TARGETS:
        raise SettingsError(variable, f"has {len(items)} targets; at most {MAX_TARGETS}")
    seen: dict[str, Target] = {}
    for item in items:
        target = parse_target(item, variable)
        seen.setdefault(target.key, target)  # a target listed twice is watched once
    return tuple(seen.values())


def parse_target(item: str, label: str, error: ErrorType = SettingsError) -> Target:
    """``app/function/instance[@generation]``, or the wildcards ``app/function/*`` and ``app/*``."""
    path, _, generation = item.partition("@")
    parts = path.split("/")
    wildcard = parts[-1] == "*" and len(parts) in (2, 3)
    if len(parts) != 3 and not wildcard:
        raise error(label, f"{item!r} is not appGroup/function/instance[@generation] (or app/function/*, app/*)")
    for part in parts[:-1] if wildcard else parts:
        if not NAME_RE.match(part) or part in (".", ".."):
            raise error(label, f"{item!r}: name {part!r} may use only letters, digits, '_', '-' and '.'")
    if "@" in item and generation != "latest" and (wildcard or not generation.isdigit()):
        allowed = "'latest' (a wildcard watches each instance's latest run)" if wildcard else "a number or 'latest'"
        raise error(label, f"{item!r}: generation {generation!r} must be {allowed}")
    if wildcard:
        return Target(parts[0], parts[1] if len(parts) == 3 else "*", "*")
    return Target(parts[0], parts[1], parts[2], None if generation in ("", "latest") else generation)


def parse_endpoint(raw: str, variable: str) -> Endpoint:
    value = raw.strip().rstrip("/")
    scheme, sep, host = value.partition("://")
    if not sep:
        scheme, host = "https", value
    if scheme not in ("http", "https") or not HOST_RE.match(host):
        raise SettingsError(variable, f"{raw!r} is not a host, https://host or http://host:port")
    port = host.rsplit("]", 1)[-1].partition(":")[2]  # after an IPv6 literal's brackets
    if port and not 1 <= int(port) <= 65535:  # HOST_RE lets any 1 to 5 digits through
        raise SettingsError(variable, f"{raw!r}: port {port} is not from 1 to 65535")
    return Endpoint(scheme, host)


def parse_state(raw: str, variable: str = "TASKWATCH_STATE") -> StateLocation:
    value = raw.strip()
    if value.startswith("oss://"):
        bucket, _, prefix = value[len("oss://") :].partition("/")
        if not BUCKET_RE.match(bucket):
            raise SettingsError(variable, f"{raw!r}: bucket name {bucket!r} is not a valid OSS bucket name")
        prefix = prefix.strip("/")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            raise SettingsError(variable, f"{raw!r}: prefix {prefix!r} has an empty, '.' or '..' part")
        return StateLocation("oss", bucket=bucket, prefix=f"{prefix}/" if prefix else "")
    if value.startswith("file://"):
        path = value[len("file://") :]
        if not path:
            raise SettingsError(variable, f"{raw!r} names no directory")
        return StateLocation("file", path=path)
    raise SettingsError(variable, f"{raw!r} must start with oss:// or file://")
