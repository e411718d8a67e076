"""HTTP trigger router (FC 3.0 HTTP events) — placeholder until the HTTP issue lands."""

from __future__ import annotations

import json
from typing import Any


def handle_http(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 501,
        "headers": {"Content-Type": "application/json"},
        "isBase64Encoded": False,
        "body": json.dumps({"error": "the HTTP trigger is not implemented yet"}),
    }
