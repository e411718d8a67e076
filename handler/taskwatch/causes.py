"""Short, readable causes from long library error texts.

A transport error from requests/urllib3 is a few hundred characters of pool and object names
with the one useful part ("Connection refused", "Read timed out") at the very end: cutting it
at a fixed length keeps exactly the part nobody needs.
"""

from __future__ import annotations

import re

MAX_CAUSE = 300
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\"\])]*")
_HOST_PORT = re.compile(r"host='([^']+)', port=(\d+)")
_KNOWN = (
    ("read timed out", "read timed out"),
    ("connect timeout", "connect timed out"),
    ("connecttimeout", "connect timed out"),
    ("timed out", "timed out"),
    ("connection aborted", "connection aborted"),
    ("remotedisconnected", "connection closed without an answer"),
    ("connection reset", "connection reset"),
    ("certificate verify failed", "TLS certificate verify failed"),
    ("name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
)


def shorten(text: str, limit: int = MAX_CAUSE) -> str:
    """At most ``limit`` characters, keeping the start and the end (where the reason usually is)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = limit // 3
    tail = limit - head - 3
    return f"{text[:head]} … {text[-tail:]}"


def transport_reason(text: str) -> str:
    """ "[Errno 111] Connection refused (127.0.0.1:9)" from a requests/urllib3 exception text."""
    lowered = text.lower()
    where = _HOST_PORT.search(text)
    suffix = f" ({where.group(1)}:{where.group(2)})" if where else ""
    errno = _ERRNO.findall(text)
    if errno:
        return shorten(errno[-1].strip().rstrip(".,") + suffix)
    for needle, reason in _KNOWN:
        if needle in lowered:
            return shorten(reason + suffix)
    return shorten(text)
