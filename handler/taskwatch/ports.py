"""The three outside parts a tick needs, as protocols, with the errors they raise.

Adapters implement them: ``opensearch.OpenSearchClient`` (TaskReader), ``store.FileStore`` and
``store.OssStore`` (StateStore), and one notifier module per chat platform under ``notifiers/``.
"""

from __future__ import annotations

from typing import Protocol

from .digest import Message
from .model import Change, Task
from .settings import Target

LIST_PAGE_SIZE = 20  # runs per ListFunctionTasks page


class TaskReader(Protocol):
    def get_task(self, target: Target, generation: str) -> Task: ...

    def list_tasks(self, target: Target, page_number: int = 1, page_size: int = LIST_PAGE_SIZE) -> list[Task]: ...


class StoreError(Exception):
    """The store could not be read or written (not: an object is missing)."""


class StateStore(Protocol):
    def get(self, name: str) -> bytes | None:
        """The object's bytes, or None if it does not exist."""

    def put(self, name: str, data: bytes, *, create_only: bool = False) -> bool:
        """Write; with create_only, False (and no write) if the object exists."""

    def delete(self, name: str) -> None: ...


class DeliveryError(Exception):
    """The digest was not accepted; ``retryable`` says whether the next tick may succeed as is."""

    def __init__(self, message: str, *, retryable: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class Notifier(Protocol):
    def digest(self, changes: list[Change]) -> Message:
        """The changes as one message within this channel's limits and with its mentions."""

    def send(self, message: Message) -> None:
        """Deliver, or raise DeliveryError."""
