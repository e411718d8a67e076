"""`taskwatch config`: the effective configuration and where each value came from, secrets masked;
`taskwatch config --check FILE`: a config file checked offline.

A ``${kms:Name}`` value is shown as ``***`` with its source. `taskwatch config` reads it when
credentials are at hand (as the function would); ``--check`` never does: it reports the reference.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import fields
from typing import TextIO

from .config_refs import UNREAD, kms_unread
from .redact import mask, mask_url, scrub
from .settings import Settings, SettingsError, config_targets


def show(settings: Settings, out: TextIO, kms_values: Mapping[str, str] | None = None) -> None:
    """``kms_values``: the secrets read for this (name -> text), so that a value holding one is
    shown as ``***``; None when they were not read."""
    write = out.write
    read = kms_values or {}
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
            held = [name for name, text in read.items() if isinstance(value, str) and text in value]
            if held:
                value = f"***  (kms:{', kms:'.join(held)})"
            elif isinstance(value, str) and UNREAD in value and settings.kms:
                value = "***  (kms, not read)"
            elif isinstance(value, str) and item.name in ("webhook", "url"):
                value = mask_url(value)
            elif isinstance(value, str) and not item.repr:
                value = mask(value)
            write(scrub(f"  {item.name} = {value}") + "\n")
        if channel.kinds is not None:
            write(f"  kinds = {', '.join(channel.kinds)}\n")
    if settings.kms:
        how = "read once per instance" if kms_values is not None else "not read here (no credentials or region)"
        write(f"kms secrets: {len(settings.kms)} reference(s), {how}\n")
        for ref in settings.kms:
            write(f"  {ref.path} = ***  (kms:{ref.name})\n")


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
        # A ${kms:} is reported, never read; a ${env:} that is not set here is reported too.
        config = parse_config(data, path, env, kms_unread, unset_ok=True)
    except SettingsError as err:
        print(f"taskwatch: {scrub(str(err))}", file=sys.stderr)
        return 2
    held = {ref.path: f"${{kms:{ref.name}}}" for ref in config.kms}
    held.update((ref.path, f"${{env:{ref.name}}}") for ref in config.unset)
    unchecked = ""
    try:
        config_targets(config)
        if config.channels:
            channels_from_config(config)
    except ConfigError as err:
        if err.path not in held:
            print(f"taskwatch: {scrub(str(err))}", file=sys.stderr)
            return 2
        # Its value is known only where the function runs: checking the stand-in would prove nothing.
        unchecked = f"; {err.path} holds {held[err.path]}: checked when the function reads it"
    except SettingsError as err:
        print(f"taskwatch: {scrub(str(err))}", file=sys.stderr)
        return 2
    written = [text for watch in config.watches for text, _ in watch.targets]
    wildcards = sum(1 for text in written if text.partition("@")[0].endswith("/*"))
    out.write(
        f"{path}: valid: {len(written)} target(s) ({wildcards} wildcard(s)), {len(config.channels)} channel(s), "
        f"{len(config.watches)} [[watch]], {len(config.values)} setting(s){unchecked}\n"
    )
    if config.kms:
        refs = ", ".join(f"{ref.name} ({ref.path})" for ref in config.kms)
        out.write(f"  {len(config.kms)} KMS secret reference(s), not read offline: {refs}\n")
    if config.unset:
        names = ", ".join(f"{ref.name} ({ref.path})" for ref in config.unset)
        out.write(f"  {len(config.unset)} variable(s) not set here, to be set where the function runs: {names}\n")
    return 0


def run(check: str | None) -> int:
    from .kms import can_read, resolver
    from .wiring import LOCAL, load

    if check is not None:
        return check_file(check, os.environ, sys.stdout)
    # Secrets are read as the function reads them (once per instance, masked) when credentials
    # are at hand; without them the references are shown unread.
    read: dict[str, str] | None = {} if can_read(os.environ) else None
    reader = resolver(os.environ, None, LOCAL.clients, LOCAL.timeouts)

    def kms(name: str, path: str) -> str:
        if read is None:
            return kms_unread(name, path)
        read[name] = reader(name, path)
        return read[name]

    settings = load(os.environ, wiring=LOCAL, kms=kms, require_credentials=False, need_region=False)
    show(settings, sys.stdout, read)
    return 0
