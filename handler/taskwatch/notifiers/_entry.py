"""The checks every notifier runs on a config file's ``[[channel]]``, each error naming its key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from ..redact import mask_url
from ..setting_values import webhook_url

if TYPE_CHECKING:
    from ..config import ChannelEntry


def url(entry: ChannelEntry, shape: Callable[[SplitResult], bool], expected: str) -> str:
    """The entry's https:// URL, of the platform's ``shape`` (``expected`` says which, in errors)."""
    from ..config import ConfigError

    label = f"{entry.path}.url"
    if not entry.url:
        raise ConfigError(label, f"is required: {expected}")
    checked = webhook_url(entry.url, label, ConfigError)
    parts = urlsplit(checked)
    if not shape(parts):
        # Only the host is shown: a URL of the wrong shape may hold its token where no rule finds it.
        raise ConfigError(label, f"{mask_url(f'{parts.scheme}://{parts.netloc}')}/… is not {expected}")
    return checked


def unsigned_url(entry: ChannelEntry, shape: Callable[[SplitResult], bool], expected: str, credential: str) -> str:
    """The URL of a channel whose only credential it holds (``credential`` says where): such a
    channel is neither signed nor in keyword mode, so a secret or keyword set for it is an error."""
    checked = url(entry, shape, expected)
    refuse(entry, "secret", f"are not signed ({credential} is the credential)")
    refuse(entry, "keyword", "have no keyword mode")
    return checked


def mentions(entry: ChannelEntry, accepts: Callable[[str], bool], expected: str) -> tuple[str, ...]:
    from ..config import ConfigError

    for i, value in enumerate(entry.mention):
        if not accepts(value):
            raise ConfigError(f"{entry.path}.mention[{i}]", f"{value!r} is not {expected}")
    return entry.mention


def refuse(entry: ChannelEntry, key: str, why: str) -> None:
    """A key this platform has no use for: an error rather than a setting silently ignored."""
    from ..config import ConfigError

    if getattr(entry, key):
        raise ConfigError(f"{entry.path}.{key}", f"{entry.type} channels {why}; remove it")
