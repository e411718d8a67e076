"""`taskwatch`: run a tick, show the stored status, play the demo, serve the HTTP API, print the RAM policy."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from . import logs
from .secrets import scrub
from .settings import SettingsError, load_settings

DESCRIPTION = """Watch OpenSearch training tasks and tell a DingTalk group what changed.
Settings come from environment variables (see README): TASKWATCH_TARGETS is required;
TASKWATCH_STATE defaults to file://./.taskwatch here; without DINGTALK_WEBHOOK messages print to stdout."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskwatch", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check", help="run one tick now (read, compare, notify, save)")
    check.add_argument("--dry-run", action="store_true", help="compute and print the changes; send and save nothing")
    sub.add_parser("status", help="print the stored state of every watched target")
    demo = sub.add_parser("demo", help="play a training run against the local emulator (no account needed)")
    demo.add_argument("--speed", type=float, default=1.0, help="faster (>1) or slower (<1) playback")
    serve = sub.add_parser("serve", help="serve the HTTP trigger's API locally (for curl)")
    serve.add_argument("--port", type=int, default=9000, help="port on 127.0.0.1 (default 9000)")
    policy = sub.add_parser("policy", help="print the least-privilege RAM policy for the current settings")
    from .policy import add_arguments

    add_arguments(policy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logs.setup()
    try:
        if args.command == "check":
            return _check(args.dry_run)
        if args.command == "status":
            return _status()
        if args.command == "demo":
            from taskwatch_emulator.demo import run_demo

            return run_demo(speed=args.speed)
        if args.command == "serve":
            from .serve import serve

            return serve(args.port)
        if args.command == "policy":
            from .policy import run

            return run(
                os.environ,
                account_id=args.account_id,
                trust=args.trust,
                lifecycle=args.lifecycle,
                claim_days=args.claim_days,
            )
    except SettingsError as err:
        print(f"taskwatch: bad setting {scrub(str(err))}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


def _check(dry_run: bool) -> int:
    from .app import read_failure_cause, tick
    from .tick import TickError

    settings = load_settings(os.environ)
    try:
        result = tick(settings, dry_run=dry_run)
    except TickError as err:
        print(f"taskwatch: tick failed: {err.cause}", file=sys.stderr)
        return 1
    if dry_run:
        from .notifiers import build_notifier

        if result.changes:
            message = build_notifier(settings).digest(result.changes)  # as the configured chat would get it
            print(f"(dry run: nothing sent, nothing saved)\n{message.text}")
        else:
            print("(dry run) no changes")
    else:
        saved = "saved" if result.saved else "unchanged"
        print(f"{len(result.changes)} change(s), {len(result.sent)} sent, state {saved}")
    cause = read_failure_cause(result)
    if cause:
        print(f"taskwatch: {cause}", file=sys.stderr)
        return 1
    return 0


def _status() -> int:
    from .store import StoreError, open_store
    from .tick import TickError, load_state

    settings = load_settings(os.environ, require_credentials=False)
    try:
        state = load_state(open_store(settings), copy_aside=False)
    except (TickError, StoreError) as err:
        print(f"taskwatch: {scrub(str(err))}", file=sys.stderr)
        return 1
    if state is None:
        print(f"no state yet at {settings.state.describe()}: run `taskwatch check` first")
        return 0
    print(json.dumps(state.to_json(), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
