"""The console: without a chat configured, each digest is printed to stdout (no budget, no mentions)."""

from __future__ import annotations

import sys
from collections.abc import Hashable
from typing import TextIO

from ..digest import DigestStyle, Message, render
from ..model import Change
from ..secrets import scrub
from ..settings import Settings

TYPE = "console"
STYLE = DigestStyle(measure=lambda message: len(message.text.encode()))


class ConsoleNotifier:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def digest(self, changes: list[Change]) -> Message:
        return render(changes, STYLE)

    def send(self, message: Message) -> None:
        stream = self._stream or sys.stdout  # looked up per call: the CLI and tests swap stdout
        stream.write(scrub(f"----- {message.title} -----\n{message.text}\n-----\n"))
        stream.flush()


def configured(settings: Settings) -> bool:
    return True  # the fallback: always available


def secrets(settings: Settings) -> list[str | None]:
    return []


def client_key(settings: Settings) -> Hashable:
    return TYPE


def build(settings: Settings) -> ConsoleNotifier:
    return ConsoleNotifier()
