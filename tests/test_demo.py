"""`taskwatch demo` plays the whole scripted run through the handler and prints every message."""

from __future__ import annotations

import io

from taskwatch_emulator.demo import TICKS, run_demo


def test_demo_plays_a_training_run() -> None:
    out = io.StringIO()

    assert run_demo(out=out, pause=0) == 0

    text = out.getvalue()
    assert text.count("💬 DingTalk:") == 8
    # Discovery: the wildcard's second instance, created at minute 22, is found by the listing at 30.
    found = text.split("[tick  7 ·", 1)[1].split("[tick  8 ·", 1)[0]
    assert "demo_search/query_intent/en@latest · gen 401" in found and "now watching" in found
    assert f"[tick {TICKS:2d} ·" in text
    for expected in (
        "now watching: running",
        "progress: passed 25%",
        "stalled",
        "moving again",
        "✅ running → success",
        "metrics: recall@50=0.924, ndcg@10=0.613",
        "❌ running → failed",
        "errors: worker 3: CUDA out of memory",
        "@13800000000",
        "new run: running",
    ):
        assert expected in text, expected
    assert "failed:" not in text  # no tick failed
    assert "\033[" not in text  # no colour codes when not a terminal
