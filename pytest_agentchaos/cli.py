"""``agentchaos``: the resilience report again, from the event store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import AgentChaosError
from .store import DEFAULT_PATH, EventStore


def _report(args: argparse.Namespace) -> int:
    from .report import build_report, render_text, write_reports

    with EventStore.open(args.db) as store:
        session = None if args.all else (args.session or store.latest_session())
        seed = None
        for row in store.sessions():
            if row["session_id"] == session:
                seed = row["seed"]
        report = build_report(store, session, seed)
    print(render_text(report))
    for path in write_reports(report, args.out or ()):
        print(f"report written: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentchaos", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="print the resilience report from an event store")
    report.add_argument("db", nargs="?", default=str(DEFAULT_PATH), help=f"default {DEFAULT_PATH}")
    report.add_argument("--session", help="session id (default: the latest session)")
    report.add_argument("--all", action="store_true", help="every session in the store together")
    report.add_argument(
        "--out",
        action="append",
        metavar="PATH",
        help="also write the report here (.json .md .csv .html); repeatable",
    )
    report.set_defaults(handler=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except AgentChaosError as error:
        print(f"agentchaos: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
