"""A bounded thread pool whose workers keep the caller's log context (the FC request id)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")


def parallel(work: Callable[[_T], _R], items: Sequence[_T], concurrency: int) -> list[_R]:
    """``work`` over ``items``, at most ``concurrency`` at a time; results in the order of ``items``."""
    if not items:
        return []
    context = contextvars.copy_context()

    def in_context(item: _T) -> _R:
        return context.copy().run(work, item)

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items)))) as pool:
        return list(pool.map(in_context, items))
