"""Settings: parsed once from the environment (and FC's context) into frozen dataclasses.

Every bad or missing value raises :class:`SettingsError` naming the variable and the bad value
(secrets masked) before any request is sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .redact import mask
from .setting_values import (
    Channel,
    Credentials,
    Endpoint,
    SettingsError,
    StateLocation,
    Target,
    parse_endpoint,
    parse_state,
    parse_targets,
)

__all__ = [
    "Channel",
    "Credentials",
    "Endpoint",
    "Settings",
    "SettingsError",
    "StateLocation",
    "Target",
    "load_credentials",
    "load_settings",
    "parse_endpoint",
    "parse_state",
    "parse_targets",
]


REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")
DEFAULT_CONCURRENCY = 16
CLI_DEFAULT_STATE = "file://./.taskwatch"


@dataclass(frozen=True)
class Settings:
    targets: tuple[Target, ...]
    region: str
    opensearch_endpoint: Endpoint
    state: StateLocation
    oss_endpoint: Endpoint | None  # None: the SDK's endpoint for the region (internal inside FC)
    oss_internal: bool
    credentials: Credentials | None = field(repr=False)
    channels: tuple[Channel, ...]  # never empty: the console when no chat is configured
    progress_step: float
    stall_minutes: float
    error_ticks: int
    http_token: str | None = field(repr=False)
    concurrency: int


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"{raw!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise SettingsError(name, f"{raw!r} must be between {low:g} and {high:g}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]+", raw) or not low <= int(raw) <= high:
        raise SettingsError(name, f"{raw!r} must be a whole number from {low} to {high}")
    return int(raw)


def _attr(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def load_credentials(env: Mapping[str, str], context: Any = None) -> Credentials | None:
    """``context.credentials`` (python3.10 runtime) first, else the ALIBABA_CLOUD_* variables.

    ALIYUN_ACCESS_KEY_* are deliberately ignored here; the OpenSearch client also keeps the SDK
    from reading them (it would silently swap them in and drop the STS token).
    """
    creds = _attr(context, "credentials")
    key_id = _attr(creds, "access_key_id") or _attr(creds, "accessKeyId")
    if key_id:
        secret = _attr(creds, "access_key_secret") or _attr(creds, "accessKeySecret")
        token = _attr(creds, "security_token") or _attr(creds, "securityToken")
        if not secret:
            raise SettingsError("context.credentials", "has an access key id but no secret")
        return Credentials(str(key_id), str(secret), str(token) if token else None)
    key_id = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "").strip()
    secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "").strip()
    token = env.get("ALIBABA_CLOUD_SECURITY_TOKEN", "").strip()
    if not key_id and not secret:
        return None
    if not key_id or not secret:
        missing = "ALIBABA_CLOUD_ACCESS_KEY_ID" if not key_id else "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        raise SettingsError(missing, "is missing while its partner is set")
    if key_id.startswith("STS.") and not token:
        raise SettingsError("ALIBABA_CLOUD_SECURITY_TOKEN", f"is missing for the STS key {mask(key_id)}")
    return Credentials(key_id, secret, token or None)


def load_settings(
    env: Mapping[str, str],
    context: Any = None,
    *,
    in_fc: bool = False,
    require_credentials: bool = True,
    need_region: bool = True,
) -> Settings:
    """Parse every setting; raise SettingsError on the first bad one.

    ``need_region=False``: the caller reads no task (only the stored state, e.g. a status), so a
    region is required only for OSS state; without one, ``region`` is "".
    """
    raw_targets = env.get("TASKWATCH_TARGETS", "")
    if not raw_targets.strip():
        raise SettingsError("TASKWATCH_TARGETS", "is required, e.g. my_app/my_function/my_instance@latest")
    targets = parse_targets(raw_targets)

    region = (
        env.get("TASKWATCH_REGION", "").strip()
        or env.get("ALIBABA_CLOUD_REGION_ID", "").strip()
        or str(_attr(context, "region") or "").strip()
        or env.get("FC_REGION", "").strip()
    )
    raw_state = env.get("TASKWATCH_STATE", "").strip()
    local_state = raw_state.startswith("file://") or (not raw_state and not in_fc)
    if not region and (need_region or not local_state):
        raise SettingsError("TASKWATCH_REGION", "is required (no ALIBABA_CLOUD_REGION_ID or FC region either)")
    if region and not REGION_RE.match(region):
        raise SettingsError("TASKWATCH_REGION", f"{region!r} is not a region id like cn-hangzhou")

    raw_opensearch = env.get("TASKWATCH_OPENSEARCH_ENDPOINT", "").strip()
    # Without a region (need_region=False) no task is read, so the regionless host is never used.
    opensearch = (
        parse_endpoint(raw_opensearch, "TASKWATCH_OPENSEARCH_ENDPOINT")
        if raw_opensearch
        else Endpoint("https", f"opensearch.{region}.aliyuncs.com" if region else "opensearch.aliyuncs.com")
    )

    if not raw_state:
        if in_fc:
            raise SettingsError("TASKWATCH_STATE", "is required in Function Compute, e.g. oss://bucket/taskwatch")
        raw_state = CLI_DEFAULT_STATE
    state = parse_state(raw_state)

    raw_oss = env.get("TASKWATCH_OSS_ENDPOINT", "").strip()
    oss_endpoint = parse_endpoint(raw_oss, "TASKWATCH_OSS_ENDPOINT") if raw_oss else None

    credentials = load_credentials(env, context)
    if credentials is None and require_credentials:
        raise SettingsError(
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET (and _SECURITY_TOKEN for STS keys)",
        )

    http_token = env.get("TASKWATCH_HTTP_TOKEN", "").strip() or None
    if http_token is not None and len(http_token) < 16:
        raise SettingsError("TASKWATCH_HTTP_TOKEN", f"{mask(http_token)} is too short; use 16+ random characters")

    from .notifiers import channels_from_env  # each notifier module reads its own variables

    return Settings(
        targets=targets,
        region=region,
        opensearch_endpoint=opensearch,
        state=state,
        oss_endpoint=oss_endpoint,
        oss_internal=in_fc and oss_endpoint is None,
        credentials=credentials,
        channels=channels_from_env(env),
        progress_step=_number(env, "TASKWATCH_PROGRESS_STEP", 25, 0, 100),
        stall_minutes=_number(env, "TASKWATCH_STALL_MINUTES", 60, 0, 60 * 24 * 365),
        error_ticks=_integer(env, "TASKWATCH_ERROR_TICKS", 3, 1, 1000),
        http_token=http_token,
        concurrency=_integer(env, "TASKWATCH_CONCURRENCY", DEFAULT_CONCURRENCY, 1, 64),
    )
