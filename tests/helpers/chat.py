"""What the notifier tests share: a config file's channel entry, and the bodies a mock received."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import responses

from taskwatch import logs
from taskwatch.config import ChannelEntry
from taskwatch.ports import DeliveryError


def entry(
    type: str,
    url: str | None,
    *,
    secret: str | None = None,
    mention: tuple[str, ...] = (),
    keyword: str | None = None,
    path: str = "channel[2]",
) -> ChannelEntry:
    """A ``[[channel]]`` as the config file hands it to a notifier module (third in the file)."""
    return ChannelEntry(
        name="team", type=type, url=url, secret=secret, mention=mention, keyword=keyword, kinds=None, path=path
    )


def sent_bytes(mock: responses.RequestsMock, index: int = 0) -> bytes:
    body = mock.calls[index].request.body
    return body if isinstance(body, bytes) else str(body).encode()


def sent_json(mock: responses.RequestsMock, index: int = 0) -> Any:
    return json.loads(sent_bytes(mock, index))


@contextmanager
def log_lines() -> Iterator[list[dict[str, Any]]]:
    """The JSON log lines written inside the block (read when it ends)."""
    stream = io.StringIO()
    lines: list[dict[str, Any]] = []
    logs.setup(stream)
    try:
        yield lines
    finally:
        logs.setup()
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def refusal(url: str, answers: list[dict[str, Any]], send: Callable[[], None]) -> tuple[DeliveryError, int]:
    """The error ``send`` raises when ``url`` gives these answers in turn, and how many requests
    it made (every answer must be used)."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        for answer in answers:
            mock.post(url, **answer)
        with pytest.raises(DeliveryError) as err:
            send()
        return err.value, len(mock.calls)
