"""The console: without a chat configured, each digest is printed to stdout (no budget, no mentions)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TextIO

from ..digest import DigestStyle, Message, fit, render
from ..model import Change
from ..ports import Timeouts
from ..redact import scrub

TYPE = "console"
STYLE = DigestStyle(measure=lambda message: len(message.text.encode()))


class ConsoleNotifier:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def digest(self, changes: list[Change], mentions: tuple[str, ...] = (), zone: str = "UTC") -> Message:
        return render(changes, replace(STYLE, zone=zone))  # nobody to ping on a console

    def compose(self, title: str, blocks: list[str], zone: str = "UTC") -> Message:
        return fit(title, blocks, replace(STYLE, zone=zone), separator="\n")

    def send(self, message: Message, key: str | None = None) -> None:
        stream = self._stream or sys.stdout  # looked up per call: the CLI and tests swap stdout
        stream.write(scrub(f"----- {message.title} -----\n{message.text}\n-----\n"))
        stream.flush()


@dataclass(frozen=True)
class Options:
    """The console takes no options."""


def accepts_mention(value: str) -> bool:
    return False


def from_env(env: Mapping[str, str]) -> Options | None:
    return None  # never chosen by a variable: the fallback when no other channel is configured


def secrets(options: Options) -> list[str | None]:
    return []


def build(options: Options, timeouts: Timeouts) -> ConsoleNotifier:
    return ConsoleNotifier()
