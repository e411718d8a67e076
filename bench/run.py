#!/usr/bin/env python3
"""taskwatch benchmark: cold start, tick time, calls per tick, memory, package size, cost, scale, channels.

    .venv/bin/python bench/run.py            # full run (~15 min): builds the code packages first
    .venv/bin/python bench/run.py --quick    # smoke version (~30 s): small sizes, dev venv only

Prints a table (Markdown) and writes it as JSON to bench/results/latest.json; a full run also
rewrites bench/RESULTS.md (the committed snapshot). See bench/README.md for what each row means
and for the modules of the bench package this script drives.

Layout of a measurement:
- the function always runs in a fresh child process with only its code directories on sys.path
  (``-I -S``; the built package ``build/package`` + ``python/`` like FC's /code, or handler/ + the
  venv's site-packages in --quick), so import costs, CPU time and peak RSS are the function's own;
- the emulator (fake OpenSearch, OSS, DingTalk on loopback) runs in this parent process, so its
  CPU and memory are not counted against the function (its own CPU is measured and reported).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: import the bench package (and infra/) from the repository root, not from bench/.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import RESULTS, SNAPSHOT
from bench.cost import FC_VCPU
from bench.report import render
from bench.runner import run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke version: small sizes, dev venv, no build")
    parser.add_argument("--runs", type=int, default=0, help="cold-start runs per variant (default 11, quick 3)")
    parser.add_argument("--sizes", default="", help="comma list of target counts (default 1,10,100,500)")
    parser.add_argument("--sweep", default="", help="comma list of TASKWATCH_CONCURRENCY values (default 8,16,32,64)")
    parser.add_argument(
        "--scale-sizes", default="", help="comma list of target counts for the scale section (default 1000,5000)"
    )
    parser.add_argument("--json", default=str(RESULTS / "latest.json"), help="where to write the JSON")
    parser.add_argument("--package-out", default=str(RESULTS / "build"), help="where to build the code package")
    parser.add_argument("--reuse-build", action="store_true", help="reuse an existing build in --package-out")
    parser.add_argument(
        "--python312",
        default=None,
        help="CPython 3.12 to build and run the package with (default: as infra/build_package.py finds it: "
        "$TASKWATCH_PY312, python3.12 on PATH, the newest pyenv 3.12)",
    )
    parser.add_argument(
        "--fc-cpu",
        type=float,
        default=None,
        help=f"also run the function in a cgroup limited to this many vCPUs (default {FC_VCPU}, s.yaml's; 0 = off)",
    )
    parser.add_argument("--no-snapshot", action="store_true", help="do not rewrite bench/RESULTS.md (full run)")
    parser.add_argument("--render", metavar="JSON", default=None, help="only print the table of a saved JSON")
    args = parser.parse_args(argv)
    if args.render:
        print(render(json.loads(Path(args.render).read_text(encoding="utf-8"))))
        return 0
    report = run(args)
    text = render(report)
    print(text)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"JSON: {out}", file=sys.stderr)
    if not report["meta"]["quick"] and not args.no_snapshot:
        SNAPSHOT.write_text(
            "# Benchmark results (snapshot of a full run)\n\n"
            "Made by `.venv/bin/python bench/run.py`; what each row means: bench/README.md.\n\n" + text,
            encoding="utf-8",
        )
        print(f"snapshot: {SNAPSHOT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
