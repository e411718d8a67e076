"""The names of tests/helpers under the module name `support`, for tests that import them from here.

The definitions live in tests/helpers (creds, fc, env); new tests import from there.
"""

from __future__ import annotations

from helpers.creds import AK_ID, AK_SECRET, DINGTALK_SECRET, STS_TOKEN, Credentials
from helpers.env import set_env
from helpers.fc import EVENTS, Context, Function

__all__ = [
    "AK_ID",
    "AK_SECRET",
    "DINGTALK_SECRET",
    "EVENTS",
    "STS_TOKEN",
    "Context",
    "Credentials",
    "Function",
    "set_env",
]
