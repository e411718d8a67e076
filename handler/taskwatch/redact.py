"""Masking of secrets: in error messages, log lines, HTTP answers, the state and chat messages.

Two layers: values are masked where they are formatted (``mask``/``mask_url``), and every text that
leaves the process passes through ``scrub``, which removes query secrets and every registered
secret value, so a secret that slips into an exception text from a library or a remote service is
still not shown. ``scrub`` knows the JSON-escaped and URL-encoded forms of each secret, and masks
any run of PARTIAL_RUN or more consecutive characters of one (an error message may cut a long STS
token anywhere).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

SECRET_PARAMS = (
    r"access_token|access[-_]?key[-_]?secret|accesskeysecret|sign|signature|security[-_]?token"
    r"|key|secret|token|password"
)
# In a URL, a parameter whose name ends in one of those words (api_key, client_secret, x-token ...):
# its whole value, up to the next & or #, whatever characters it holds.
_URL_PARAM = re.compile(rf"(?i)([?&][^&#=]*?(?:{SECRET_PARAMS})=)([^&#]*)")
# Webhooks whose token is a path segment: Feishu and Lark ".../bot/v2/hook/<token>", Slack
# ".../services/T…/B…/<secret>" (the team and channel ids before it are not secret).
_PATH_TOKEN = re.compile(r"(/bot/v2/hook/|/services/[^/?#]+/[^/?#]+/)([^/?#]+)")
_TEXT_PARAM = re.compile(rf"(?i)\b((?:{SECRET_PARAMS})=)[^&#\s\"']+")
_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/@\s:]*:)[^/@\s]*@")
_AUTH_HEADER = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|acs|oss4-hmac-sha256)?\s*)[^\s\"',]+")
MIN_SECRET = 6  # shorter values would mask ordinary words
PARTIAL_RUN = 12  # this many consecutive characters of a secret are masked wherever they stand

# A warm instance registers each new STS token it is given, and a long one keeps about a thousand
# pieces per form: only the most recently registered secrets are kept, so memory stays bounded.
MAX_SECRETS = 32

_lock = threading.Lock()
_secrets: dict[str, None] = {}  # the registered secrets, least recently registered first
# What scrub looks for: every form of every secret (longest first, with the secret it masks as), and
# every PARTIAL_RUN-long piece of those forms. Replaced whole when a secret comes or goes, never
# changed in place, so scrub reads one consistent pair without taking the lock.
_index: tuple[tuple[tuple[str, str], ...], frozenset[str]] = ((), frozenset())


def mask(value: str | None) -> str:
    """A recognisable but useless form of a secret: its first 3 characters and its length."""
    if not value:
        return "<empty>"
    return f"{value[:3]}***({len(value)} chars)" if len(value) > MIN_SECRET else "***"


def mask_url(url: str) -> str:
    """The URL with its userinfo password and every secret-named parameter's whole value masked."""
    scheme, sep, rest = url.partition("://")
    if sep:
        # The authority ends at the first / ? or #; its userinfo at its last @ (as urlsplit reads
        # it), so a password holding spaces, quotes or @ is hidden whole.
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        userinfo, at, host = rest[:end].rpartition("@")
        if at and ":" in userinfo:
            rest = f"{userinfo.partition(':')[0]}:***@{host}{rest[end:]}"
        url = f"{scheme}{sep}{rest}"
    return _PATH_TOKEN.sub(r"\1***", _URL_PARAM.sub(r"\1***", url))


def url_secrets(url: str | None) -> list[str]:
    """The secret parts of a webhook URL: secret-named parameter values and path tokens (raw and
    decoded), the password."""
    if not url:
        return []
    found: list[str] = []
    for match in (*_URL_PARAM.finditer(url), *_PATH_TOKEN.finditer(url)):
        found += [match.group(2), unquote(match.group(2)), unquote(match.group(2).replace("+", " "))]
    try:
        password = urlsplit(url.strip()).password
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    return found


def _forms(value: str) -> set[str]:
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
    }


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so that ``scrub`` removes them, in every form, from any text."""
    global _index
    with _lock:
        changed = False
        for value in values:
            if not value or len(value) < MIN_SECRET:
                continue
            changed |= value not in _secrets
            _secrets.pop(value, None)
            _secrets[value] = None  # now the most recent
        while len(_secrets) > MAX_SECRETS:
            del _secrets[next(iter(_secrets))]
        if not changed:
            return
        variants: dict[str, str] = {}
        grams: set[str] = set()
        for value in _secrets:
            for form in _forms(value):
                variants.setdefault(form, value)
                grams.update(form[i : i + PARTIAL_RUN] for i in range(len(form) - PARTIAL_RUN + 1))
        _index = (tuple(sorted(variants.items(), key=lambda item: len(item[0]), reverse=True)), frozenset(grams))


def scrub(text: str) -> str:
    text = _AUTH_HEADER.sub(r"\1***", _USERINFO.sub(r"\1***@", _TEXT_PARAM.sub(r"\1***", text)))
    forms, grams = _index
    for form, value in forms:
        if form in text:
            text = text.replace(form, mask(value))
    return _mask_partial(text, grams) if grams else text


def _mask_partial(text: str, grams: frozenset[str]) -> str:
    """Replace every run of text made of PARTIAL_RUN-long pieces of a secret with ***."""
    if len(text) < PARTIAL_RUN:
        return text
    covered = [False] * len(text)
    hit = False
    for i in range(len(text) - PARTIAL_RUN + 1):
        if text[i : i + PARTIAL_RUN] in grams:
            hit = True
            for j in range(i, i + PARTIAL_RUN):
                covered[j] = True
    if not hit:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append("***")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def scrub_value(value: Any) -> Any:
    """``value`` with every string in it scrubbed, through dicts and lists (before JSON encoding,
    so that a secret holding ``"`` or ``\\`` is found as it is, not in its escaped form)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v) for v in value]
    return value
