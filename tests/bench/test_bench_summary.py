"""`bench.summary.summary_bench` at a small size: the summary's calls, whatever the machine (no
timing assertions: times on a shared CI machine are noise)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.summary import summary_bench  # noqa: E402


def test_a_summary_reads_the_state_once_asks_opensearch_nothing_and_posts_once_an_hour() -> None:
    figures = summary_bench(targets=12, platforms=("dingtalk", "slack", "webhook"))
    assert figures["targets"] == 12 and figures["state_bytes"] > 0 and figures["emulator_errors"] == []
    first, again = figures["first"], figures["same_hour"]
    assert first["outcomes"] == {"dingtalk": "sent", "slack": "sent", "webhook": "sent"}
    assert first["opensearch"] == 0 and first["oss_reads"] == 1  # the state, nothing else
    assert first["oss_writes"] == 2 * 3  # each channel's claim: created, then marked sent
    assert first["chat_requests"] == {"dingtalk": 1, "slack": 1, "webhook": 1}
    assert first["targets_shown"] == {"dingtalk": 12, "slack": 12, "webhook": 12}
    assert all(n > 0 for n in first["body_bytes"].values()) and first["wall_ms"] > 0
    # The same hour again: the state, then each claim found sent (a refused create, a read); no message.
    assert set(again["outcomes"].values()) == {"sentByAnotherTick"}
    assert (again["opensearch"], again["oss_reads"], again["oss_writes"]) == (0, 1 + 3, 3)
    assert again["chat_requests"] == {"dingtalk": 0, "slack": 0, "webhook": 0}
