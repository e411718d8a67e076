"""Checked reads of stored JSON values: a wrong type or an out-of-range value is a ValueError, which
the caller treats as a corrupt state (copied aside) or an unreadable claim."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

MAX_STORED_INT = 2**53  # what JSON readers everywhere keep exactly


def count(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_STORED_INT:
        raise ValueError(f"{key} {str(value)[:40]!r} is not a whole number from 0 to 2**53")
    return value


def number(data: dict[str, Any], key: str) -> float:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key} {str(value)[:40]!r} is not a finite number")
    return float(value)


def text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{key} is not a string")
    return str(value)


def flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key} is not true or false")
    return value


# How a plain field of a stored dataclass is checked, by its declared type.
READERS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "int": count,
    "float": number,
    "bool": flag,
    "str | None": text,
}


def json_key(name: str) -> str:
    """``progress_since`` -> ``progressSince``: the state's keys are camelCase."""
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


def dump(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {json_key(name): getattr(obj, name) for name in names}


def load(cls: type, data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The named plain fields of ``cls`` read from ``data``, checked by their declared types, as
    keyword arguments; ValueError on the first bad one."""
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    return {name: READERS[types[name]](data, json_key(name)) for name in names}
