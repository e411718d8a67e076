"""Masking of secrets: in error messages, log lines and HTTP answers.

Two layers: values are masked where they are formatted (``mask``/``mask_url``), and every log
line passes through ``scrub`` which removes query secrets and any registered secret value, so a
secret that slips into an exception text from a library is still not printed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

_QUERY_SECRET = re.compile(r"(?i)((?:access_token|sign|signature|security[-_]?token|accesskeysecret)=)[^&\s\"']+")
_AUTH_HEADER = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|acs|oss4-hmac-sha256)?\s*)[^\s\"',]+")

_lock = threading.Lock()
_registered: set[str] = set()


def mask(value: str | None) -> str:
    """A recognisable but useless form of a secret: its first 3 characters and its length."""
    if not value:
        return "<empty>"
    return f"{value[:3]}***({len(value)} chars)" if len(value) > 6 else "***"


def mask_url(url: str) -> str:
    return _QUERY_SECRET.sub(r"\1***", url)


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so that ``scrub`` removes them from any text."""
    with _lock:
        _registered.update(v for v in values if v and len(v) >= 6)


def scrub(text: str) -> str:
    text = _AUTH_HEADER.sub(r"\1***", _QUERY_SECRET.sub(r"\1***", text))
    with _lock:
        values = sorted(_registered, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, mask(value))
    return text
