"""One module per chat platform, and the registry that picks the channel a tick delivers to.

A notifier module declares ``TYPE`` (its name), its limits and mention style (a ``DigestStyle``),
its client (``digest`` and ``send``, see ``ports.Notifier``), and four functions the registry
calls: ``configured(settings)``, ``secrets(settings)`` (masked everywhere), ``client_key(settings)``
(a warm instance reuses the client while it stays the same) and ``build(settings)``.
A new platform is one module here plus one line in REGISTRY.
"""

from __future__ import annotations

from collections.abc import Hashable
from types import ModuleType

from ..ports import Notifier
from ..settings import Settings
from . import console, dingtalk

# In order of preference: the first one configured delivers; the console is the fallback.
REGISTRY: tuple[ModuleType, ...] = (
    dingtalk,
    console,
)


def chosen(settings: Settings) -> ModuleType:
    return next(module for module in REGISTRY if module.configured(settings))


def notifier_secrets(settings: Settings) -> list[str | None]:
    return [value for module in REGISTRY for value in module.secrets(settings)]


def notifier_key(settings: Settings) -> Hashable:
    module = chosen(settings)
    return (module.TYPE, module.client_key(settings))


def build_notifier(settings: Settings) -> Notifier:
    notifier: Notifier = chosen(settings).build(settings)
    return notifier
