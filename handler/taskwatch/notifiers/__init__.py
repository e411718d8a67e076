"""One module per chat platform, and the registry of them.

A notifier module declares ``TYPE`` (its name in settings), ``Options`` (a frozen dataclass of what
it is configured with), its client (``digest`` within its limits and mention style, and ``send``;
see ``ports.Notifier``), and four functions the registry calls: ``from_env(env)`` (its channel
from environment variables, or None), ``from_entry(entry)`` (its options from a config file's
``[[channel]]``), ``secrets(options)`` (masked everywhere) and ``build(options, timeouts)``.
A new platform is one module here plus one line in REGISTRY.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING

from ..ports import Notifier, Timeouts
from ..setting_values import Channel, SettingsError

if TYPE_CHECKING:
    from ..config import ConfigFile

# type -> its module, imported only when a channel of that type is configured: a cold start with
# one DingTalk robot never loads the other platforms' code.
REGISTRY: dict[str, str] = {
    "dingtalk": "dingtalk",
    "wecom": "wecom",
    "feishu": "feishu",
    "lark": "lark",
    "slack": "slack",
    "webhook": "webhook",
    "console": "console",
}
FROM_ENV = ("dingtalk",)  # the types environment variables can configure (their from_env)
CONSOLE = "console"


def load(kind: str) -> ModuleType:
    """The notifier module of a channel type."""
    return importlib.import_module(f"{__name__}.{REGISTRY[kind]}")


def module(channel: Channel) -> ModuleType:
    if channel.type not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise SettingsError(f"channel {channel.name}", f"type {channel.type!r} is not one of {known}")
    return load(channel.type)


def channels_from_env(env: Mapping[str, str]) -> tuple[Channel, ...]:
    """The channels environment variables configure (each named after its type), else the console."""
    found = tuple(
        Channel(name=kind, type=kind, options=options)
        for kind in FROM_ENV
        if (options := load(kind).from_env(env)) is not None
    )
    return found or (Channel(name=CONSOLE, type=CONSOLE, options=load(CONSOLE).Options()),)


def channels_from_config(config: ConfigFile) -> tuple[Channel, ...]:
    """The file's ``[[channel]]`` tables, each read by its own notifier module."""
    from ..config import ConfigError

    channels = []
    for entry in config.channels:
        if entry.type not in REGISTRY or entry.type == CONSOLE:
            ready = ", ".join(t for t in REGISTRY if t != CONSOLE)
            raise ConfigError(f"{entry.path}.type", f"{entry.type!r} is not a channel type; use {ready}")
        channels.append(Channel(entry.name, entry.type, load(entry.type).from_entry(entry), entry.kinds))
    return tuple(channels)


def channel_secrets(channels: tuple[Channel, ...]) -> list[str | None]:
    return [value for channel in channels for value in module(channel).secrets(channel.options)]


def build_notifier(channel: Channel, timeouts: Timeouts) -> Notifier:
    notifier: Notifier = module(channel).build(channel.options, timeouts)
    return notifier
