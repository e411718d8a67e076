"""The three outside parts a tick needs, as protocols, with the errors they raise.

Adapters implement them: ``opensearch.OpenSearchClient`` (TaskReader), ``stores.file.FileStore``
and ``stores.oss.OssStore`` (StateStore), and one notifier module per chat platform under
``notifiers/``. ``Timeouts`` is what every adapter is given by the wiring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .model import Change, Task
from .setting_values import Target

if TYPE_CHECKING:  # rendering loads only when a tick has something to send
    from .digest import Message

LIST_PAGE_SIZE = 20  # runs per ListFunctionTasks page


@dataclass(frozen=True)
class Timeouts:
    """How long each outside call may take and the pause before its one retry, in seconds.

    The defaults fit FC's 180 s timeout with every target read once and retried once.
    """

    opensearch_connect: float = 3
    opensearch_read: float = 8
    opensearch_backoff: float = 0.3
    oss_connect: float = 3
    oss_readwrite: float = 8
    oss_attempts: int = 2  # the SDK would try 3 times by default; one retry is enough within a tick
    chat_connect: float = 3
    chat_read: float = 5
    chat_backoff: float = 0.5


DEFAULT_TIMEOUTS = Timeouts()


INSTANCE_PAGE_SIZE = 100  # instance names per ListFunctionInstances page (the API's default is 10)


@dataclass(frozen=True)
class InstancePage:
    names: list[str]
    total: int | None  # TotalCount, when the answer carries it


class TaskReader(Protocol):
    def get_task(self, target: Target, generation: str) -> Task: ...

    def list_tasks(self, target: Target, page_number: int = 1, page_size: int = LIST_PAGE_SIZE) -> list[Task]: ...

    def list_instances(self, app_group: str, function: str, page_number: int, page_size: int) -> InstancePage: ...


class StoreError(Exception):
    """The store could not be read or written (not: an object is missing)."""


class StateStore(Protocol):
    def get(self, name: str) -> bytes | None:
        """The object's bytes, or None if it does not exist."""

    def put(self, name: str, data: bytes, *, create_only: bool = False) -> bool:
        """Write; with create_only, False (and no write) if the object exists."""

    def delete(self, name: str) -> None: ...


class DeliveryError(Exception):
    """The digest was not accepted; ``retryable`` says whether the next tick may succeed as is.

    ``rate_limited``: the platform asked us to slow down; the changes wait for a later tick and are
    not retried within this one.
    """

    def __init__(
        self, message: str, *, retryable: bool, code: int | str | None = None, rate_limited: bool = False
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.rate_limited = rate_limited


class Notifier(Protocol):
    def digest(self, changes: list[Change], mentions: tuple[str, ...] = (), zone: str = "UTC") -> Message:
        """The changes as one message within this channel's limits and with its mentions.

        ``mentions``: more ids pinged if the digest is urgent (a watch's owners), added to the
        channel's own; ids that are not in this platform's form are left out. ``zone``: how times
        are shown ("UTC", an IANA name or ±HH:MM).
        """

    def compose(self, title: str, blocks: list[str], zone: str = "UTC") -> Message:
        """A message of rendered ``blocks`` (a summary's lines) within this channel's limits: as many
        as fit, in order, then "… +N more" for the rest. Blocks are joined by a line break (one that
        starts with a blank line starts a paragraph); the channel's keyword applies, and it pings
        nobody. ``zone``: the zone the blocks' times are in."""

    def send(self, message: Message, key: str | None = None) -> None:
        """Deliver, or raise DeliveryError. ``key`` is the digest's deterministic id: platforms
        that deduplicate on an id are given it (DingTalk ``msgUuid``, Standard Webhooks ``webhook-id``)."""
