"""RAM documents for the function's role, derived from the settings so they always match them.

``taskwatch policy`` prints :func:`policy_document` for the current settings: least privilege,
``opensearch:DescribeFunction`` (GetFunctionTask, ListFunctionTasks) on exactly the watched app
groups, OSS read/write/delete/list on exactly the state prefix, and ``kms:GetSecretValue`` on
exactly the secrets the config file names (``${kms:Name}``). ``--trust`` prints
:func:`trust_policy` (Function Compute may assume the role); ``--lifecycle`` prints the OSS
lifecycle rule that expires old claim objects, in the XML that ``aliyun oss lifecycle`` takes
(``--format json`` for JSON). ``--trust`` and ``--lifecycle`` need no targets, region or
credentials: the lifecycle rule depends on ``TASKWATCH_STATE`` alone.

Pure functions only: no I/O, no environment reads (``main`` takes both as arguments).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import astuple, dataclass
from typing import Any, TextIO
from xml.sax.saxutils import escape

from .settings import Settings, SettingsError, StateLocation, parse_state

FC_SERVICE = "fc.aliyuncs.com"
OPENSEARCH_ACTIONS = ("opensearch:DescribeFunction",)
OSS_OBJECT_ACTIONS = ("oss:GetObject", "oss:PutObject", "oss:DeleteObject")
OSS_LIST_ACTIONS = ("oss:ListObjects",)
KMS_ACTIONS = ("kms:GetSecretValue",)
CLAIMS_DIR = "claims/"
DEFAULT_CLAIM_DAYS = 7
ACCOUNT_RE = re.compile(r"^(\*|[0-9]{1,32})$")

Document = dict[str, Any]


def _account(account_id: str) -> str:
    if not ACCOUNT_RE.match(account_id):
        raise ValueError(f"account id {account_id!r} must be digits or '*'")
    return account_id


def opensearch_resources(settings: Settings, account_id: str = "*") -> list[str]:
    """One ARN per distinct app group of the targets, sorted (stable output)."""
    account = _account(account_id)
    groups = sorted({target.app_group for target in settings.targets})
    return [f"acs:opensearch:{settings.region}:{account}:apps/{group}" for group in groups]


def policy_document(settings: Settings, account_id: str = "*") -> Document:
    """The function role's permission policy (RAM policy language, Version "1").

    With ``file://`` state there is no OSS statement at all (see :func:`notes`).
    """
    account = _account(account_id)
    statements: list[Document] = [
        {
            "Effect": "Allow",
            "Action": list(OPENSEARCH_ACTIONS),
            "Resource": opensearch_resources(settings, account),
        }
    ]
    state = settings.state
    if state.scheme == "oss":
        statements.append(
            {
                "Effect": "Allow",
                "Action": list(OSS_OBJECT_ACTIONS),
                "Resource": [f"acs:oss:*:{account}:{state.bucket}/{state.prefix}*"],
            }
        )
        listing: Document = {
            "Effect": "Allow",
            "Action": list(OSS_LIST_ACTIONS),
            "Resource": [f"acs:oss:*:{account}:{state.bucket}"],
        }
        if state.prefix:
            listing["Condition"] = {"StringLike": {"oss:Prefix": [f"{state.prefix}*"]}}
        statements.append(listing)
    config = settings.config or ""
    if config.startswith("oss://"):  # read at every tick, never written
        bucket, _, key = config[len("oss://") :].partition("/")
        statements.append(
            {"Effect": "Allow", "Action": ["oss:GetObject"], "Resource": [f"acs:oss:*:{account}:{bucket}/{key}"]}
        )
    secrets = kms_resources(settings, account)
    if secrets:
        statements.append({"Effect": "Allow", "Action": list(KMS_ACTIONS), "Resource": secrets})
    return {"Version": "1", "Statement": statements}


def kms_resources(settings: Settings, account_id: str = "*") -> list[str]:
    """One ARN per distinct secret the config file names, sorted; none without a reference."""
    account = _account(account_id)
    names = sorted({ref.name for ref in settings.kms})
    return [f"acs:kms:{settings.region}:{account}:secret/{name}" for name in names]


def trust_policy() -> Document:
    """Who may assume the role: Function Compute only."""
    return {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": [FC_SERVICE]},
            }
        ],
    }


def lifecycle_document(where: Settings | StateLocation, days: int = DEFAULT_CLAIM_DAYS) -> Document:
    """OSS lifecycle rule expiring ``<prefix>claims/`` objects after ``days`` days.

    The JSON shape follows the PutBucketLifecycle XML (``LifecycleConfiguration/Rule``, see
    :func:`lifecycle_xml`); ``infra/bucket-lifecycle.json`` and ``.xml`` are the rule for the prefix
    ``taskwatch/``.
    """
    state = where.state if isinstance(where, Settings) else where
    if state.scheme != "oss":
        raise ValueError("state is not on OSS (TASKWATCH_STATE is file://...): no lifecycle rule needed")
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    return {
        "LifecycleConfiguration": {
            "Rule": [
                {
                    "ID": "taskwatch-expire-claims",
                    "Prefix": f"{state.prefix}{CLAIMS_DIR}",
                    "Status": "Enabled",
                    "Expiration": {"Days": days},
                }
            ]
        }
    }


def lifecycle_xml(document: Document) -> str:
    """A :func:`lifecycle_document` as the PutBucketLifecycle XML (2-space indent, trailing newline)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<LifecycleConfiguration>"]
    for rule in document["LifecycleConfiguration"]["Rule"]:
        lines += [
            "  <Rule>",
            f"    <ID>{escape(rule['ID'])}</ID>",
            f"    <Prefix>{escape(rule['Prefix'])}</Prefix>",
            f"    <Status>{escape(rule['Status'])}</Status>",
            "    <Expiration>",
            f"      <Days>{int(rule['Expiration']['Days'])}</Days>",
            "    </Expiration>",
            "  </Rule>",
        ]
    return "\n".join([*lines, "</LifecycleConfiguration>"]) + "\n"


def lifecycle_text(env: Mapping[str, str], days: int = DEFAULT_CLAIM_DAYS, fmt: str = "xml") -> str:
    """The lifecycle rule for ``TASKWATCH_STATE`` alone; ValueError (or SettingsError) when there is none."""
    raw = env.get("TASKWATCH_STATE", "").strip()
    if not raw:
        raise SettingsError(
            "TASKWATCH_STATE",
            "is not set: the rule is for an oss://bucket/prefix state "
            "(infra/bucket-lifecycle.xml is the one for the prefix taskwatch/)",
        )
    document = lifecycle_document(parse_state(raw), days)
    return lifecycle_xml(document) if fmt == "xml" else dump(document)


def notes(settings: Settings) -> list[str]:
    """Human remarks printed beside the policy (to stderr by ``main``)."""
    out: list[str] = []
    if settings.state.scheme != "oss":
        out.append(
            f"note: TASKWATCH_STATE is {settings.state.describe()}: state is not on OSS, "
            "so the policy grants no OSS access (inside FC the state must be oss://bucket/prefix)"
        )
    elif not settings.state.prefix:
        out.append(
            f"note: TASKWATCH_STATE has no prefix: the policy grants access to the whole bucket "
            f"{settings.state.bucket}; use oss://{settings.state.bucket}/taskwatch to narrow it"
        )
    return out


def dump(document: Document) -> str:
    """Stable JSON text (2-space indent, trailing newline), as printed and as in infra/."""
    return json.dumps(document, indent=2) + "\n"


def render(settings: Settings, account_id: str = "*", trust: bool = False) -> str:
    """JSON text: the permission policy, or the trust policy with ``trust=True``."""
    return dump(trust_policy() if trust else policy_document(settings, account_id))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``taskwatch policy``, for cli.py's subparser and :func:`main`."""
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--trust", action="store_true", help="print the role's trust policy instead")
    what.add_argument(
        "--lifecycle",
        action="store_true",
        help="print the OSS lifecycle rule that expires old claim objects instead "
        "(for `aliyun oss lifecycle --method put`; needs only TASKWATCH_STATE)",
    )
    parser.add_argument("--account-id", default="*", help="Alibaba Cloud account id for the ARNs (default: '*')")
    parser.add_argument(
        "--claim-days",
        type=int,
        default=DEFAULT_CLAIM_DAYS,
        help=f"with --lifecycle: days before a claim expires (default {DEFAULT_CLAIM_DAYS})",
    )
    parser.add_argument(
        "--format",
        choices=("xml", "json"),
        default=None,
        help="with --lifecycle: xml (the default, what `aliyun oss lifecycle` takes) or json; "
        "RAM policies are always JSON",
    )


@dataclass(frozen=True)
class PolicyRequest:
    """Which document `taskwatch policy` prints (its command-line options)."""

    account_id: str = "*"
    trust: bool = False
    lifecycle: bool = False
    claim_days: int = DEFAULT_CLAIM_DAYS
    fmt: str | None = None


def run(env: Mapping[str, str], request: PolicyRequest, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the chosen document on ``out``, remarks on ``err``; 0, or 2 on a bad setting/option."""
    out = out or sys.stdout
    err = err or sys.stderr
    account_id, trust, lifecycle, claim_days, fmt = astuple(request)
    if fmt not in (None, "json", "xml") or (fmt == "xml" and not lifecycle):
        err.write(f"taskwatch policy: --format {fmt} is not available here: RAM policies are JSON\n")
        return 2
    try:
        if lifecycle:
            out.write(lifecycle_text(env, claim_days, fmt or "xml"))
            return 0
        if trust:
            out.write(dump(trust_policy()))
            return 0
        from .config_refs import kms_unread
        from .wiring import LOCAL, load

        # The role may not read the secrets yet: their names are all the policy needs.
        settings = load(env, wiring=LOCAL, kms=kms_unread, require_credentials=False)
        text = render(settings, account_id)
    except (SettingsError, ValueError) as exc:
        err.write(f"taskwatch policy: {exc}\n")
        return 2
    out.write(text)
    for line in notes(settings):
        err.write(line + "\n")
    return 0
