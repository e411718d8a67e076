"""The configuration file named by TASKWATCH_CONFIG: TOML, read at every tick, checked strictly.

Every error names the key path (array entries count from 0) and the bad value, secrets masked:
``TASKWATCH_CONFIG watch[1].chanels: unknown key (did you mean 'channels'?)``. Reading the file is
``config_source.read_text``'s; this module only parses and validates text, so it is pure: a
``${kms:SecretName}`` is read by the resolver the caller passes (the wiring's reads KMS).
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config_refs import KmsRef, KmsResolver, References, substitute
from .redact import mask, scrub
from .setting_values import NAME_RE, NUMBERS, TEXTS, SettingsError

VARIABLE = "TASKWATCH_CONFIG"
MAX_BYTES = 2_000_000  # 10,000 targets take about 400 KB; 100,000 fit, and are refused by count
MAX_TARGETS = 10_000
MAX_CHANNELS = 50
MAX_WATCHES = 1_000
CHANNEL_NAME_RE = re.compile(r"^[a-z0-9_-]{1,32}$")
CHANNEL_TYPES = ("dingtalk", "wecom", "feishu", "lark", "slack", "webhook")
KIND_FILTERS = (
    "watching",
    "new_run",
    "status",
    "status:success",
    "status:failed",
    "progress",
    "stalled",
    "moving",
    "not_found",
    "error",
    "recovered",
    "removed",
    "reminder",
    "regression",
    "channel_failing",
    "channel_ok",
)
CHANNEL_KEYS = ("name", "type", "url", "secret", "mention", "keyword", "kinds")
WATCH_KEYS = ("targets", "channels", "mention", "kinds")
LIST_KEYS = ("discover_functions", "lower_is_better")
TOP_KEYS = (*(n.key for n in NUMBERS), *(t.key for t in TEXTS), *LIST_KEYS, "channel", "watch")
SECRET_KEYS = ("url", "secret")  # masked in errors and in `taskwatch config`


class ConfigError(SettingsError):
    def __init__(self, path: str, problem: str) -> None:
        # Scrubbed here: a check may quote a value that came from KMS (registered as a secret when read).
        super().__init__(f"{VARIABLE} {path}" if path else VARIABLE, scrub(problem))
        self.path = path


def kms_offline(name: str, path: str) -> str:
    """The default resolver: parsing alone reaches no service."""
    raise ConfigError(path, f"${{kms:{name}}}: KMS cannot be reached offline; only the function reads it")


@dataclass(frozen=True)
class ChannelEntry:
    name: str
    type: str
    url: str | None
    secret: str | None
    mention: tuple[str, ...]
    keyword: str | None
    kinds: tuple[str, ...] | None  # None: every kind
    path: str  # "channel[0]": where errors about it point


@dataclass(frozen=True)
class WatchEntry:
    targets: tuple[tuple[str, str], ...]  # (the target as written, its key path)
    channels: tuple[str, ...] | None  # None: every channel
    mention: tuple[str, ...]
    kinds: tuple[str, ...] | None


@dataclass(frozen=True)
class ConfigFile:
    source: str  # what TASKWATCH_CONFIG named
    values: Mapping[str, Any]  # the top-level scalars and lists the file sets, checked
    channels: tuple[ChannelEntry, ...]
    watches: tuple[WatchEntry, ...]
    kms: tuple[KmsRef, ...] = ()  # every ${kms:Name}, in file order
    unset: tuple[KmsRef, ...] = ()  # check-only: every ${env:NAME} not set where the file was checked


def parse_config(
    data: bytes, source: str, env: Mapping[str, str], kms: KmsResolver = kms_offline, *, unset_ok: bool = False
) -> ConfigFile:
    """The file's content checked against the schema; ConfigError on the first problem.

    ``kms`` reads each ``${kms:Name}`` (given the name and the key path, for its errors)."""
    if len(data) > MAX_BYTES:
        raise ConfigError("", f"{source} is {len(data):,} bytes; at most {MAX_BYTES:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError("", f"{source} is not UTF-8 (byte {err.start})") from None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the python3.10 runtime: the package ships tomli for it
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("", f"{source} is not TOML: {err}") from None
    except RecursionError:
        raise ConfigError("", f"{source} is nested too deep") from None
    refs = References(env, kms, unset_ok=unset_ok)
    _known(table, TOP_KEYS, "")
    values: dict[str, Any] = {}
    for number in NUMBERS:
        if number.key in table:
            values[number.key] = number.check(table[number.key], number.key, ConfigError)
    for text_setting in TEXTS:
        if text_setting.key in table:
            raw = _string(table[text_setting.key], text_setting.key, refs)
            values[text_setting.key] = text_setting.check(raw, text_setting.key, ConfigError)
    for key in LIST_KEYS:
        if key in table:
            values[key] = _names(table[key], key, refs)
    for i, name in enumerate(values.get("discover_functions", ())):
        if not NAME_RE.match(name) or name in (".", ".."):
            raise ConfigError(f"discover_functions[{i}]", f"{name!r} may use only letters, digits, '_', '-' and '.'")
    channels = tuple(_channel(entry, f"channel[{i}]", refs) for i, entry in enumerate(_tables(table, "channel")))
    if len(channels) > MAX_CHANNELS:
        raise ConfigError("channel", f"has {len(channels)} channels; at most {MAX_CHANNELS}")
    names = [c.name for c in channels]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"channel[{i}].name", f"{name!r} is already the name of channel[{names.index(name)}]")
    watches = tuple(_watch(entry, f"watch[{i}]", refs, names) for i, entry in enumerate(_tables(table, "watch")))
    if len(watches) > MAX_WATCHES:
        raise ConfigError("watch", f"has {len(watches)} entries; at most {MAX_WATCHES}")
    count = sum(len(w.targets) for w in watches)
    if count > MAX_TARGETS:
        raise ConfigError("watch", f"lists {count:,} targets; at most {MAX_TARGETS:,} in one function")
    return ConfigFile(
        source=source, values=values, channels=channels, watches=watches, kms=tuple(refs.found), unset=tuple(refs.unset)
    )


def _channel(table: dict[str, Any], path: str, refs: References) -> ChannelEntry:
    _known(table, CHANNEL_KEYS, path)
    for key in ("name", "type"):
        if key not in table:
            raise ConfigError(f"{path}.{key}", "is required")
    name = _string(table["name"], f"{path}.name", refs)
    if not CHANNEL_NAME_RE.match(name):
        raise ConfigError(f"{path}.name", f"{name!r} must be 1 to 32 of a-z, 0-9, '_' and '-'")
    kind = _string(table["type"], f"{path}.type", refs)
    if kind not in CHANNEL_TYPES:
        raise ConfigError(
            f"{path}.type", f"{kind!r} is not one of {', '.join(CHANNEL_TYPES)}{_did_you_mean(kind, CHANNEL_TYPES)}"
        )
    return ChannelEntry(
        name=name,
        type=kind,
        url=_optional(table, "url", path, refs),
        secret=_optional(table, "secret", path, refs),
        mention=_names(table.get("mention", []), f"{path}.mention", refs),
        keyword=_optional(table, "keyword", path, refs),
        kinds=_kinds(table, path, refs),
        path=path,
    )


def _watch(table: dict[str, Any], path: str, refs: References, channels: list[str]) -> WatchEntry:
    _known(table, WATCH_KEYS, path)
    if "targets" not in table:
        raise ConfigError(f"{path}.targets", "is required: the targets this entry watches")
    raw = table["targets"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}.targets", f"must be a non-empty list of strings, not {_shown(raw)}")
    targets = tuple((_string(item, f"{path}.targets[{i}]", refs), f"{path}.targets[{i}]") for i, item in enumerate(raw))
    routed: tuple[str, ...] | None = None
    if "channels" in table:
        routed = _names(table["channels"], f"{path}.channels", refs)
        for i, name in enumerate(routed):
            if name not in channels:
                known = ", ".join(channels) if channels else "none: there is no [[channel]]"
                raise ConfigError(
                    f"{path}.channels[{i}]", f"{name!r} is not a channel ({known}){_did_you_mean(name, channels)}"
                )
    return WatchEntry(
        targets, routed, _names(table.get("mention", []), f"{path}.mention", refs), _kinds(table, path, refs)
    )


def _kinds(table: dict[str, Any], path: str, refs: References) -> tuple[str, ...] | None:
    if "kinds" not in table:
        return None
    kinds = _names(table["kinds"], f"{path}.kinds", refs)
    for i, kind in enumerate(kinds):
        if kind not in KIND_FILTERS:
            raise ConfigError(f"{path}.kinds[{i}]", f"{kind!r} is not a change kind{_did_you_mean(kind, KIND_FILTERS)}")
    return kinds


def _tables(table: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entries = table.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(key, f"must be an array of tables ([[{key}]]), not {_shown(entries)}")
    return entries


def _known(table: dict[str, Any], keys: tuple[str, ...], path: str) -> None:
    for key in table:
        if key not in keys:
            where = f"{path}.{key}" if path else key
            raise ConfigError(where, f"unknown key{_did_you_mean(key, keys)}")


def _optional(table: dict[str, Any], key: str, path: str, refs: References) -> str | None:
    if key not in table:
        return None
    return _string(table[key], f"{path}.{key}", refs) or None


def _names(value: Any, path: str, refs: References) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, f"must be a list of strings, not {_shown(value)}")
    return tuple(_string(item, f"{path}[{i}]", refs) for i, item in enumerate(value))


def _string(value: Any, path: str, refs: References) -> str:
    """A string with its ``${env:NAME}`` and ``${kms:SecretName}`` references replaced."""
    if not isinstance(value, str):
        raise ConfigError(path, f"must be a string, not {_shown(value)}")
    return substitute(value, path, refs, ConfigError)


def _shown(value: Any) -> str:
    """A bad value as the error shows it: its TOML type, and its text when short."""
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "a table"}
    kind = next((name for typ, name in kinds.items() if isinstance(value, typ)), type(value).__name__)
    text = repr(value)
    return f"{kind} {text}" if len(text) <= 40 and not isinstance(value, (dict, list)) else kind


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def masked(entry: ChannelEntry, key: str) -> str | None:
    """A channel value as `taskwatch config` prints it: secrets masked."""
    value = getattr(entry, key)
    return mask(value) if key in SECRET_KEYS and isinstance(value, str) else value


def code_directory() -> str:
    """Where a relative TASKWATCH_CONFIG is looked up: the directory holding index.py (FC's /code)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
