"""The Markdown pieces every section of the report is written with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f} s"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
