"""Where TASKWATCH_CONFIG points, and reading it: ``oss://bucket/key.toml``, ``file:///abs.toml``,
or a path relative to the code directory (a ``taskwatch.toml`` shipped beside ``index.py``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from .config import MAX_BYTES, VARIABLE, ConfigError, code_directory
from .ports import StoreError, Timeouts
from .setting_values import BUCKET_RE, NO_CREDENTIALS, StateLocation, parse_endpoint
from .settings import REGION_RE, load_credentials, resolve_region


def read_config(raw: str, env: Mapping[str, str], context: Any, timeouts: Timeouts, *, in_fc: bool) -> bytes:
    """The file's bytes; ConfigError naming the source when it cannot be read (nothing else is
    requested before it, so a broken config stops the tick at once)."""
    if raw.startswith("oss://"):
        return _read_oss(raw, env, context, timeouts, in_fc=in_fc)
    if raw.startswith("file://"):
        path = unquote(raw[len("file://") :])
        if not path.startswith("/"):
            raise ConfigError("", f"{raw!r}: a file:// URL needs an absolute path (file:///dir/taskwatch.toml)")
    elif "://" in raw:
        raise ConfigError("", f"{raw!r} must be oss://bucket/key, file:///path or a path in the code directory")
    else:
        path = os.path.join(code_directory(), raw)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise ConfigError("", f"cannot read {path}: {err.strerror or err}") from None
    return data


def _read_oss(raw: str, env: Mapping[str, str], context: Any, timeouts: Timeouts, *, in_fc: bool) -> bytes:
    from .stores.oss import OssStore

    bucket, _, key = raw[len("oss://") :].partition("/")
    if not BUCKET_RE.match(bucket) or not key or key.endswith("/"):
        raise ConfigError("", f"{raw!r} is not oss://bucket/key.toml")
    credentials = load_credentials(env, context)
    if credentials is None:
        raise ConfigError("", f"reading {raw}: {NO_CREDENTIALS}")
    region = resolve_region(env, context)
    if not REGION_RE.match(region):
        raise ConfigError("", f"reading {raw} needs a region (TASKWATCH_REGION)")
    raw_endpoint = env.get("TASKWATCH_OSS_ENDPOINT", "").strip()
    endpoint = parse_endpoint(raw_endpoint, "TASKWATCH_OSS_ENDPOINT") if raw_endpoint else None
    store = OssStore(
        StateLocation("oss", bucket=bucket),
        region=region,
        endpoint=endpoint,
        internal=in_fc and endpoint is None,
        credentials=credentials,
        pool_size=1,
        timeouts=timeouts,
    )
    try:
        data = store.get(key)
    except StoreError as err:
        raise ConfigError("", f"cannot read {raw}: {err}") from None
    if data is None:
        raise ConfigError("", f"{raw} does not exist")
    return data


__all__ = ["VARIABLE", "read_config"]
