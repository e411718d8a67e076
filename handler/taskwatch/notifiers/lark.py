"""Lark, Feishu's international edition: the same bot, card, signing and answers on
open.larksuite.com, so everything but the name comes from ``feishu``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ports import Timeouts
from . import feishu
from .feishu import FeishuNotifier, Options, accepts_mention, from_env, options_from, secrets

if TYPE_CHECKING:
    from ..config import ChannelEntry

__all__ = ["HOST", "TYPE", "Options", "accepts_mention", "build", "from_entry", "from_env", "secrets"]

TYPE = "lark"
HOST = "open.larksuite.com"


def from_entry(entry: ChannelEntry) -> Options:
    """A config file's ``[[channel]]`` of type lark."""
    return options_from(entry, HOST)


def build(options: Options, timeouts: Timeouts) -> FeishuNotifier:
    return feishu.build(options, timeouts, platform="Lark")
