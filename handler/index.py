"""Function Compute entry point (`handler: index.handler`): one handler for the timer and HTTP triggers."""

from __future__ import annotations

from typing import Any

from taskwatch.fc import handle


def handler(event: Any, context: Any) -> Any:
    return handle(event, context)
