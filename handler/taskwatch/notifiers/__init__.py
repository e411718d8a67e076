"""One module per chat platform, and the registry of them.

A notifier module declares ``TYPE`` (its name in settings), ``Options`` (a frozen dataclass of what
it is configured with), its client (``digest`` within its limits and mention style, and ``send``;
see ``ports.Notifier``), and three functions the registry calls: ``from_env(env)`` (its channel
from environment variables, or None), ``secrets(options)`` (masked everywhere) and
``build(options, timeouts)``. A new platform is one module here plus one line in REGISTRY.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from ..ports import Notifier, Timeouts
from ..setting_values import Channel, SettingsError
from . import console, dingtalk

REGISTRY: dict[str, ModuleType] = {
    dingtalk.TYPE: dingtalk,
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


def channel_secrets(channels: tuple[Channel, ...]) -> list[str | None]:
    return [value for channel in channels for value in module(channel).secrets(channel.options)]


def build_notifier(channel: Channel, timeouts: Timeouts) -> Notifier:
    notifier: Notifier = module(channel).build(channel.options, timeouts)
    return notifier
