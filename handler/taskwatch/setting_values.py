"""The values of settings: their types and parsers, each error naming the variable and the value.

``settings.load_settings`` reads the environment with these; nothing here reads it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .redact import mask_url

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
HOST_RE = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:]+\](:[0-9]{1,5})?$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
MAX_TARGETS = 1000


class SettingsError(ValueError):
    """A setting is missing or malformed; ``variable`` names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class Target:
    """One watched task: ``appGroup/function/instance[@generation]``; generation None = latest."""

    app_group: str
    function: str
    instance: str
    generation: str | None = None

    @property
    def key(self) -> str:
        return f"{self.app_group}/{self.function}/{self.instance}@{self.generation or 'latest'}"


@dataclass(frozen=True)
class Channel:
    """Where digests go: a name, a notifier type (``notifiers.REGISTRY``) and that notifier's own
    options, a frozen dataclass its module reads and validates."""

    name: str
    type: str
    options: Any = field(repr=False)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def webhook_url(raw: str, variable: str) -> str:
    """An https:// URL (http only for loopback hosts: tests and the local emulator), whose
    secrets stay masked in the error."""
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. an unclosed [ in the host: the error must still name the variable
        raise SettingsError(variable, f"{mask_url(raw)!r} is not an https:// URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(variable, f"{mask_url(raw)!r} is not an https:// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        # A webhook URL carries its token: only loopback may go unencrypted.
        raise SettingsError(variable, f"{mask_url(raw)!r} must be https:// (http only for loopback hosts)")
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
        path, _, generation = item.partition("@")
        parts = path.split("/")
        if len(parts) != 3:
            raise SettingsError(variable, f"{item!r} is not appGroup/function/instance[@generation]")
        for part in parts:
            if not NAME_RE.match(part) or part in (".", ".."):
                raise SettingsError(variable, f"{item!r}: name {part!r} may use only letters, digits, '_', '-' and '.'")
        if "@" in item and generation != "latest" and not generation.isdigit():
            raise SettingsError(variable, f"{item!r}: generation {generation!r} must be a number or 'latest'")
        target = Target(parts[0], parts[1], parts[2], None if generation in ("", "latest") else generation)
        seen.setdefault(target.key, target)  # a target listed twice is watched once
    return tuple(seen.values())


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
