"""`taskwatch`: run a tick, post the summary, show the stored status or the configuration, play the
demo, serve the HTTP API, print the RAM policy."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence

from . import logs
from .redact import scrub
from .settings import SettingsError

DESCRIPTION = """Watch OpenSearch training tasks and tell your team chat what changed.
Settings come from environment variables and the TOML file TASKWATCH_CONFIG names (see README):
TASKWATCH_TARGETS (or the file's [[watch]]) is required;
TASKWATCH_STATE defaults to file://./.taskwatch here; without DINGTALK_WEBHOOK messages print to stdout."""
# The version when the package metadata is missing (the FC code package ships no dist-info of
# taskwatch itself); pyproject.toml's version, kept equal by a test.
VERSION = "0.1.0"


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("taskwatch")
    except PackageNotFoundError:
        return VERSION


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    # 0 would mean an endless pause between ticks, not "as fast as possible"
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number above 0, e.g. 2 (twice as fast) or 0.5")
    return value


def _port(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1 to 65535")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskwatch", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"taskwatch {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check", help="run one tick now (read, compare, notify, save)")
    check.add_argument("--dry-run", action="store_true", help="compute and print the changes; send and save nothing")
    summary = sub.add_parser(
        "summary",
        help="post the summary now, one message per channel: every target's status, progress and ETA, "
        "and the last 24 h's runs (from the stored state: no task is read)",
    )
    summary.add_argument("--dry-run", action="store_true", help="print each channel's message; send and write nothing")
    sub.add_parser("status", help="print the stored state of every watched target")
    config = sub.add_parser(
        "config", help="print the effective configuration (secrets masked) and where each value came from"
    )
    config.add_argument("--check", metavar="FILE", help="only check this TOML config file offline; exit 2 if invalid")
    demo = sub.add_parser("demo", help="play a training run against the local emulator (no account needed)")
    demo.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="playback speed, a number above 0: 2 plays twice as fast, 0.5 half as fast (default 1)",
    )
    demo.add_argument(
        "--channels",
        action="store_true",
        help="deliver the run to five chats at once (DingTalk, WeCom, Feishu, Slack, a webhook) from a "
        "config file with two teams' [[watch]] routes, owners to mention and a kinds filter; each "
        "message is printed with its channel and platform (see docs/channels.md)",
    )
    serve = sub.add_parser("serve", help="serve the HTTP trigger's API locally (for curl)")
    serve.add_argument("--port", type=_port, default=9000, help="port on 127.0.0.1, 1 to 65535 (default 9000)")
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
        if args.command == "summary":
            return _summary(args.dry_run)
        if args.command == "status":
            return _status()
        if args.command == "config":
            from .config_report import run as config_run

            return config_run(args.check)
        if args.command == "demo":
            if args.channels:
                from taskwatch_emulator.demo_channels import run_channels_demo

                return run_channels_demo(speed=args.speed)
            from taskwatch_emulator.demo import run_demo

            return run_demo(speed=args.speed)
        if args.command == "serve":
            from .serve import serve

            return serve(args.port)
        if args.command == "policy":
            from .policy import PolicyRequest, run

            options = ("account_id", "trust", "lifecycle", "claim_days")
            request = PolicyRequest(fmt=args.format, **{name: getattr(args, name) for name in options})
            return run(os.environ, request)
    except SettingsError as err:
        print(f"taskwatch: bad setting {scrub(str(err))}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


def _check(dry_run: bool) -> int:
    from .tick import TickError
    from .wiring import LOCAL, load, read_failure_cause, tick

    settings = load(os.environ, wiring=LOCAL)
    try:
        result = tick(settings, wiring=LOCAL, dry_run=dry_run)
    except TickError as err:
        print(f"taskwatch: tick failed: {err.cause}", file=sys.stderr)
        return 1
    if dry_run:
        from .notifiers import build_notifier

        if result.changes:
            # as the configured chat would get it
            message = build_notifier(settings.channels[0], LOCAL.timeouts).digest(result.changes)
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


def _summary(dry_run: bool) -> int:
    from .ports import StoreError
    from .summary_run import run
    from .tick import TickError
    from .wiring import LOCAL, load

    # No task is read: credentials and a region only matter for OSS state (and KMS secrets).
    settings = load(os.environ, wiring=LOCAL, require_credentials=False, need_region=False)
    try:
        result = run(settings, wiring=LOCAL, dry_run=dry_run)
    except (TickError, StoreError) as err:
        print(f"taskwatch: cannot read the stored state: {scrub(str(err))}", file=sys.stderr)
        return 1
    if dry_run:
        print("(dry run: nothing sent, nothing written)")
        for name, text in result.texts.items():
            print(scrub(f"----- {name} -----\n{text}"))
    else:
        print(f"summary of {result.hour}: " + ", ".join(f"{name} {done}" for name, done in result.channels.items()))
    cause = result.failure()
    if cause:
        print(f"taskwatch: {cause}", file=sys.stderr)
        return 1
    return 0


def _status() -> int:
    from .config_refs import kms_unread
    from .http_api import status_body
    from .stores import StoreError
    from .tick import TickError
    from .wiring import LOCAL, load

    # A status reads no task (a region only matters for OSS state) and sends nothing, so the
    # config file's KMS secrets are not read either.
    settings = load(os.environ, wiring=LOCAL, kms=kms_unread, require_credentials=False, need_region=False)
    try:
        body = status_body(settings, LOCAL)  # the same answer as GET /status
    except (TickError, StoreError) as err:
        print(f"taskwatch: cannot read the stored state: {scrub(str(err))}", file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2, ensure_ascii=False))
    if body["revision"] is None:
        print(f"taskwatch: no state yet at {body['state']}: run `taskwatch check` first", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
