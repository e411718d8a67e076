"""Strict JSON for data we did not write ourselves: answers, ExtendInfo, the stored state, claims.

Python's ``json`` accepts ``NaN``, ``Infinity``, ``1e999`` (as inf) and integers of any size, and
raises ``RecursionError`` on deep nesting: each of those later crashes arithmetic, ``int()`` or a
``datetime``. Here every such value is a ``ValueError`` at the border, where the caller decides
what a bad value means (a read failure, a corrupt state, an unreadable claim).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 32
MAX_INT = 2**63  # larger integers are not a time, a count or a progress anyone sends


class BadJson(ValueError):
    """Not JSON, or JSON holding a value taskwatch refuses to compute with."""


class NotJson(BadJson):
    """The text is not JSON at all (as opposed to JSON with a bad value in it)."""


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson(f"number {text[:40]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise BadJson(f"integer {text[:40]}... is out of range")
    value = int(text)
    if abs(value) >= MAX_INT:
        raise BadJson(f"integer {text} is out of range")
    return value


def _constant(name: str) -> Any:
    raise BadJson(f"{name} is not a number")


def loads(raw: str | bytes | bytearray) -> Any:
    """``json.loads`` that raises BadJson for non-finite or huge numbers and nesting over MAX_DEPTH."""
    try:
        data = json.loads(raw, parse_float=_float, parse_int=_int, parse_constant=_constant)
    except BadJson:
        raise
    except RecursionError:
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise NotJson(f"not JSON: {str(err)[:120]}") from None
    check_depth(data)
    return data


def check_depth(data: Any, limit: int = MAX_DEPTH) -> None:
    """BadJson if lists/objects nest deeper than ``limit`` (iterative: never recurses itself)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise BadJson(f"nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def field(obj: Mapping[str, Any], name: str) -> Any:
    """``obj[name]`` accepting PascalCase (``StartTime``), camelCase (``startTime``) or any casing.

    OpenSearch's SDK models read PascalCase while its API docs show camelCase; an exact match wins.
    """
    if name in obj:
        return obj[name]
    camel = name[:1].lower() + name[1:]
    if camel in obj:
        return obj[camel]
    wanted = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value
    return None
