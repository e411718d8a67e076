"""Where state and delivery claims live: a small object store with create-only writes.

Object names are relative to the configured location: ``state.json``, ``claims/<change id>``,
``corrupt/state-<ms>.json``. ``put(..., create_only=True)`` is the one atomic primitive the
delivery protocol needs. A new store is one module here plus a branch in ``open_store``.
"""

from __future__ import annotations

from ..ports import StateStore, StoreError, Timeouts
from ..setting_values import NO_CREDENTIALS
from ..settings import Settings
from .file import FileStore

__all__ = ["FileStore", "StateStore", "StoreError", "open_store"]


def open_store(settings: Settings, timeouts: Timeouts) -> StateStore:
    if settings.state.scheme == "file":
        return FileStore(settings.state.path)
    if settings.credentials is None:
        raise StoreError(f"OSS state: {NO_CREDENTIALS}")
    from .oss import OssStore  # the OSS SDK loads only when the state is in OSS

    return OssStore(
        settings.state,
        region=settings.region,
        endpoint=settings.oss_endpoint,
        internal=settings.oss_internal,
        credentials=settings.credentials,
        pool_size=settings.concurrency,
        timeouts=timeouts,
    )
