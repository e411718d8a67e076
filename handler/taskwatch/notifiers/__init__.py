"""One module per chat platform, and the registry of them.

A notifier module declares ``TYPE`` (its name in settings), ``Options`` (a frozen dataclass of what
it is configured with), its client (``digest`` within its limits and mention style, and ``send``;
see ``ports.Notifier``), and four functions the registry calls: ``from_env(env)`` (its channel
from environment variables, or None), ``from_entry(entry)`` (its options from a config file's
``[[channel]]``), ``secrets(options)`` (masked everywhere) and ``build(options, timeouts)``.
A new platform is one module here plus one line in REGISTRY.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING

from ..ports import Notifier, Timeouts
from ..setting_values import Channel, SettingsError
from . import console, dingtalk, feishu, lark, slack, webhook, wecom

if TYPE_CHECKING:
    from ..config import ConfigFile

REGISTRY: dict[str, ModuleType] = {
    dingtalk.TYPE: dingtalk,
    wecom.TYPE: wecom,
    feishu.TYPE: feishu,
    lark.TYPE: lark,
    slack.TYPE: slack,
    webhook.TYPE: webhook,
    console.TYPE: console,
}


def module(channel: Channel) -> ModuleType:
    try:
        return REGISTRY[channel.type]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise SettingsError(f"channel {channel.name}", f"type {channel.type!r} is not one of {known}") from None


def channels_from_env(env: Mapping[str, str]) -> tuple[Channel, ...]:
    """The channels environment variables configure (each named after its type), else the console."""
    found = tuple(
        Channel(name=name, type=name, options=options)
        for name, notifier in REGISTRY.items()
        if (options := notifier.from_env(env)) is not None
    )
    return found or (Channel(name=console.TYPE, type=console.TYPE, options=console.Options()),)


def channels_from_config(config: ConfigFile) -> tuple[Channel, ...]:
    """The file's ``[[channel]]`` tables, each read by its own notifier module."""
    from ..config import ConfigError

    channels = []
    for entry in config.channels:
        notifier = REGISTRY.get(entry.type)
        if notifier is None or not hasattr(notifier, "from_entry"):
            ready = ", ".join(t for t, m in REGISTRY.items() if hasattr(m, "from_entry"))
            raise ConfigError(f"{entry.path}.type", f"{entry.type!r} channels are not available yet; use {ready}")
        channels.append(Channel(entry.name, entry.type, notifier.from_entry(entry), entry.kinds))
    return tuple(channels)


def channel_secrets(channels: tuple[Channel, ...]) -> list[str | None]:
    return [value for channel in channels for value in module(channel).secrets(channel.options)]


def build_notifier(channel: Channel, timeouts: Timeouts) -> Notifier:
    notifier: Notifier = module(channel).build(channel.options, timeouts)
    return notifier
