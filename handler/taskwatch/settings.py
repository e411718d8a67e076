"""Settings: parsed once from the environment (and FC's context) into frozen dataclasses.

Every bad or missing value raises :class:`SettingsError` naming the variable and the bad value
(secrets masked) before any request is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .redact import mask
from .setting_values import (
    DEFAULT_CONCURRENCY,
    MIN_TOKEN_LENGTH,
    NO_CREDENTIALS,
    NUMBERS,
    TEXTS,
    Channel,
    Credentials,
    Endpoint,
    NumberSetting,
    Route,
    SettingsError,
    StateLocation,
    Target,
    parse_endpoint,
    parse_state,
    parse_target,
    parse_targets,
)

if TYPE_CHECKING:
    from .config import ConfigFile
    from .config_refs import KmsRef

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Channel",
    "Credentials",
    "Endpoint",
    "Route",
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
# What `app/*` lists when discover_functions names no others: the functions OpenSearch documents.
DISCOVER_FUNCTIONS = ("ctr", "pop", "category", "hot", "hint", "suggest", "analyzer", "termweight", "synonym")
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
    remind_hours: float = 0
    regression_pct: float = 0
    discover_minutes: float = 60
    timezone: str = "UTC"
    quiet_hours: str = ""
    discover_functions: tuple[str, ...] = DISCOVER_FUNCTIONS
    lower_is_better: tuple[str, ...] = ()
    config: str | None = None  # what TASKWATCH_CONFIG named
    kms: tuple[KmsRef, ...] = ()  # the file's ${kms:Name} references (the policy grants exactly these)
    routes: tuple[Route, ...] = ()  # which channels each target's changes go to; () = every channel
    # Where each value came from ("file", "environment" or "default"), for `taskwatch config`.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


def _attr(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def resolve_region(env: Mapping[str, str], context: Any = None) -> str:
    return (
        env.get("TASKWATCH_REGION", "").strip()
        or env.get("ALIBABA_CLOUD_REGION_ID", "").strip()
        or str(_attr(context, "region") or "").strip()
        or env.get("FC_REGION", "").strip()
    )


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
    config: ConfigFile | None = None,
) -> Settings:
    """Parse every setting; raise SettingsError on the first bad one.

    ``config``: the checked config file, if TASKWATCH_CONFIG names one. A scalar set in both takes
    the environment's value; TASKWATCH_TARGETS adds to the file's targets.
    ``need_region=False``: the caller reads no task (only the stored state, e.g. a status), so a
    region is required only for OSS state; without one, ``region`` is "".
    """
    raw_targets = env.get("TASKWATCH_TARGETS", "")
    file_targets = config_targets(config) if config else ()
    if not raw_targets.strip() and not file_targets:
        if config:
            raise SettingsError("TASKWATCH_TARGETS", "is not set and the config file's [[watch]] lists no target")
        raise SettingsError("TASKWATCH_TARGETS", "is required, e.g. my_app/my_function/my_instance@latest")
    env_targets = parse_targets(raw_targets) if raw_targets.strip() else ()
    targets = _union(file_targets, env_targets)
    # The plain values first: a bad one is named before a missing region or key hides it.
    values, origins = _layered(env, config)

    region = resolve_region(env, context)
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
            NO_CREDENTIALS,
        )

    http_token = env.get("TASKWATCH_HTTP_TOKEN", "").strip() or None
    if http_token is not None and len(http_token) < MIN_TOKEN_LENGTH:
        problem = f"{mask(http_token)} is too short; use {MIN_TOKEN_LENGTH}+ random characters"
        raise SettingsError("TASKWATCH_HTTP_TOKEN", problem)

    from .notifiers import channels_from_config, channels_from_env  # each reads its own options

    discover_functions = tuple(values.pop("discover_functions", DISCOVER_FUNCTIONS))
    lower_is_better = tuple(values.pop("lower_is_better", ()))
    channels = channels_from_config(config) if config and config.channels else channels_from_env(env)
    from_env = "environment" if channels[0].type != "console" else "default"
    origins["channels"] = "file" if config and config.channels else from_env
    return Settings(
        targets=targets,
        region=region,
        opensearch_endpoint=opensearch,
        state=state,
        oss_endpoint=oss_endpoint,
        oss_internal=in_fc and oss_endpoint is None,
        credentials=credentials,
        channels=channels,
        http_token=http_token,
        discover_functions=discover_functions,
        lower_is_better=lower_is_better,
        config=config.source if config else None,
        kms=config.kms if config else (),
        routes=_routes(config, env_targets),
        origins=origins,
        **values,
    )


def _layered(env: Mapping[str, str], config: ConfigFile | None) -> tuple[dict[str, Any], dict[str, str]]:
    """Each number and text setting from the environment, else the file, else its default."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    file_values = config.values if config else {}
    for setting in (*NUMBERS, *TEXTS):
        raw = env.get(setting.variable, "").strip()
        if raw:
            if isinstance(setting, NumberSetting):
                values[setting.key] = setting.parse(raw)
            else:
                values[setting.key] = setting.check(raw, setting.variable, SettingsError)
            origins[setting.key] = "environment"
        elif setting.key in file_values:
            values[setting.key], origins[setting.key] = file_values[setting.key], "file"
        else:
            values[setting.key], origins[setting.key] = setting.default, "default"
    for key in ("discover_functions", "lower_is_better"):
        if key in file_values:
            values[key], origins[key] = file_values[key], "file"
        else:
            origins[key] = "default"
    return values, origins


def _routes(config: ConfigFile | None, env_targets: tuple[Target, ...]) -> tuple[Route, ...]:
    """The file's [[watch]] entries in order, then the environment's targets (to every channel)."""
    if config is None:
        return ()
    from .config import ConfigError

    routes = [
        Route(
            tuple(parse_target(text, path, ConfigError) for text, path in watch.targets),
            watch.channels,
            watch.mention,
            watch.kinds,
        )
        for watch in config.watches
    ]
    if env_targets:
        routes.append(Route(env_targets))
    return tuple(routes)


def config_targets(config: ConfigFile) -> tuple[Target, ...]:
    from .config import ConfigError

    return tuple(parse_target(text, path, ConfigError) for watch in config.watches for text, path in watch.targets)


def _union(*groups: tuple[Target, ...]) -> tuple[Target, ...]:
    """Every target once, in the order first listed."""
    seen: dict[str, Target] = {}
    for group in groups:
        for target in group:
            seen.setdefault(target.key, target)
    return tuple(seen.values())
