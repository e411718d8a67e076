"""References in the config file's strings: ``${env:NAME}`` and ``${kms:SecretName}``.

Pure: a KMS reference is handed to the resolver the caller gives (the wiring's reads KMS once per
warm instance; ``kms_unread`` reads nothing, for checks that must work offline).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .setting_values import ErrorType

_REF = re.compile(r"\$\{([a-z]+):([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9_/.:-]{1,192}$")  # what KMS allows in a secret's name
# Check-only stand-ins for a secret that is not read: the first passes a webhook URL's checks.
UNREAD_URL = "https://kms.invalid/not-read?access_token=not-read&key=not-read"
UNREAD = "not-read"

KmsResolver = Callable[[str, str], str]  # (secret name, key path) -> the secret's text


@dataclass(frozen=True)
class KmsRef:
    """One ``${kms:SecretName}`` in the file: the secret's name and the key path holding it."""

    name: str
    path: str


@dataclass
class References:
    """What a string's references resolve with, and the KMS references met so far."""

    env: Mapping[str, str]
    kms: KmsResolver
    found: list[KmsRef] = field(default_factory=list)
    # Check-only: a variable not set here gets a stand-in and is listed, instead of an error (the
    # file is checked where it is written, the variables exist where the function runs).
    unset_ok: bool = False
    unset: list[KmsRef] = field(default_factory=list)  # (variable name, key path)


def kms_unread(name: str, path: str) -> str:
    """Check-only (``config --check``, ``taskwatch policy``): the reference is accepted and recorded,
    never read; a stand-in value takes its place."""
    return UNREAD_URL if path.endswith(".url") else UNREAD


def substitute(value: str, path: str, refs: References, error: ErrorType) -> str:
    """``value`` with its references replaced; a replaced value is not searched again, so a
    variable's or a secret's text can never pull in another secret."""

    def resolve(match: re.Match[str]) -> str:
        kind, name = match.groups()
        if kind == "kms":
            if not SECRET_NAME_RE.match(name):
                problem = "a secret name is 1 to 192 of letters, digits, '_', '-', '/', '.' and ':'"
                raise error(path, f"{match.group(0)!r}: {problem}")
            refs.found.append(KmsRef(name, path))
            secret = refs.kms(name, path).strip()
            if not secret:
                raise error(path, f"{match.group(0)}: the secret {name} is empty")
            return secret
        if kind != "env":
            raise error(path, f"{match.group(0)!r}: only ${{env:NAME}} and ${{kms:SecretName}} references are known")
        if not _ENV_NAME.match(name):
            return match.group(0)  # not a variable's name: kept as written
        found = refs.env.get(name)
        if (found is None or not found.strip()) and refs.unset_ok:
            refs.unset.append(KmsRef(name, path))
            return kms_unread(name, path)
        if found is None or not found.strip():
            raise error(path, f"${{env:{name}}}: the variable {name} is not set")
        return found.strip()

    return _REF.sub(resolve, value)
