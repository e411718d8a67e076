"""The half every chat client has in common: its options, its transport, and ``digest``.

A client is given its ``Poster`` built (by its module's ``build``, from ``secrets(options)``), so
what masks a secret in an error is the same list the registry masks everywhere else, and a test
passes its own sleep, retries and timeouts without the client knowing about them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Generic, TypeVar

from ..model import Change
from ._http import Poster

if TYPE_CHECKING:  # rendering loads when a digest is made, not when a channel is configured
    from ..digest import DigestStyle, Message

OptionsT = TypeVar("OptionsT")


class ChatNotifier(Generic[OptionsT]):
    """``ports.Notifier`` less ``send``, which each platform writes against ``self._http``."""

    def __init__(
        self, options: OptionsT, http: Poster, style: DigestStyle, accepts_mention: Callable[[str], bool]
    ) -> None:
        self._options = options
        self._http = http
        self._style = style
        self._accepts_mention = accepts_mention

    def digest(self, changes: list[Change], mentions: tuple[str, ...] = (), zone: str = "UTC") -> Message:
        # A watch's owners are named once for every channel: each platform pings only the ids of
        # its own form, as an id of another platform's would show as text or be refused.
        from ..digest import render, with_mentions

        accepted = tuple(mention for mention in mentions if self._accepts_mention(mention))
        style = with_mentions(self._style, accepted)
        return render(changes, style if zone == style.zone else replace(style, zone=zone))

    def compose(self, title: str, blocks: list[str], zone: str = "UTC") -> Message:
        # The channel's own measure, budget and keyword; its mentions are left out: nobody is pinged.
        from ..digest import fit

        return fit(title, blocks, replace(self._style, mentions=(), zone=zone), separator="\n")
