"""`taskwatch config`: the effective configuration and where each value came from, secrets masked;
`taskwatch config --check FILE`: a config file checked offline."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import fields
from typing import TextIO

from .redact import mask, mask_url, scrub
from .settings import Settings, SettingsError, config_targets


def show(settings: Settings, out: TextIO) -> None:
    write = out.write
    write(f"config file: {settings.config or 'none (TASKWATCH_CONFIG is not set)'}\n")
    wildcards = [t for t in settings.targets if t.is_wildcard]
    write(f"targets: {len(settings.targets)} ({len(wildcards)} wildcard(s), listed at each discovery)\n")
    for target in settings.targets[:50]:
        write(f"  {target.key}\n")
    if len(settings.targets) > 50:
        write(f"  … +{len(settings.targets) - 50} more\n")
    for name, origin in settings.origins.items():
        if name == "channels":
            continue
        value = getattr(settings, name)
        shown = ", ".join(value) if isinstance(value, tuple) else value
        write(f"{name} = {shown!s}  ({origin})\n")
    write(f"state = {settings.state.describe()}\n")
    for channel in settings.channels:
        where = "file" if (settings.config and channel.name != channel.type) or settings.config else "environment"
        write(f"channel {channel.name} ({channel.type}, {where})\n")
        for item in fields(channel.options):
            value = getattr(channel.options, item.name)
            if value in (None, (), ""):
                continue
            if isinstance(value, str) and item.name in ("webhook", "url"):
                value = mask_url(value)
            elif isinstance(value, str) and not item.repr:
                value = mask(value)
            write(f"  {item.name} = {value}\n")
        if channel.kinds is not None:
            write(f"  kinds = {', '.join(channel.kinds)}\n")


def check_file(path: str, env: Mapping[str, str], out: TextIO) -> int:
    """0 when the file is a valid config (its channels and targets included), 2 otherwise."""
    from .config import MAX_BYTES, ConfigError, parse_config
    from .notifiers import channels_from_config

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as err:
        print(f"taskwatch: cannot read {path}: {err.strerror or err}", file=sys.stderr)
        return 2
    try:
        config = parse_config(data, path, env)
        targets = config_targets(config)
        channels = channels_from_config(config) if config.channels else ()
    except (ConfigError, SettingsError) as err:
        print(f"taskwatch: {scrub(str(err))}", file=sys.stderr)
        return 2
    wildcards = sum(1 for t in targets if t.is_wildcard)
    out.write(
        f"{path}: valid: {len(targets)} target(s) ({wildcards} wildcard(s)), {len(channels)} channel(s), "
        f"{len(config.watches)} [[watch]], {len(config.values)} setting(s)\n"
    )
    return 0


def run(check: str | None) -> int:
    from .wiring import LOCAL, load

    if check is not None:
        return check_file(check, os.environ, sys.stdout)
    settings = load(os.environ, wiring=LOCAL, require_credentials=False, need_region=False)
    show(settings, sys.stdout)
    return 0
