"""``agentchaos``: the resilience report again, from the event store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pytest_agentchaos.config.settings import DEFAULT_PATH
from pytest_agentchaos.errors import AgentChaosError
from pytest_agentchaos.model.outcomes import FaultResult
from pytest_agentchaos.store.sqlite import EventStore


def _report(args: argparse.Namespace) -> int:
    from pytest_agentchaos.report.build import build_report, render_text, write_reports

    with EventStore.read(args.db) as store:
        session = None if args.all else (args.session or store.latest_session())
        found = store.session(session) if session else None
        seed = found.seed if found else None
        report = build_report(store, session, seed)
    print(render_text(report))
    for path in write_reports(report, args.out or ()):
        print(f"report written: {path}")
    return 0


def _faults_of(path: str, session: str | None) -> list[FaultResult]:
    with EventStore.read(path) as store:
        return store.faults(session or store.latest_session())


def _compare(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from pytest_agentchaos.report.compare import compare_faults

    rows = compare_faults(
        _faults_of(args.base, args.base_session),
        _faults_of(args.head, args.head_session),
        alpha=args.alpha,
    )

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    def num(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
        return "-" if value is None else f"{value * scale:.{digits}g}"

    table = [
        [
            r.kind,
            r.target,
            pct(r.base_rate),
            pct(r.head_rate),
            num(r.rate_p),
            num(r.base_mttr_p50_s, 1e3),
            num(r.head_mttr_p50_s, 1e3),
            num(r.mttr_p),
            "REGRESSED" if r.regressed else "ok",
        ]
        for r in rows
    ]
    headers = [
        "fault",
        "target",
        "base rate",
        "head rate",
        "p",
        "base MTTR ms",
        "head MTTR ms",
        "p",
        "verdict",
    ]
    print(tabulate(table, headers=headers, disable_numparse=True))
    regressed = [r for r in rows if r.regressed]
    for row in regressed:
        print(f"regression: {row.kind} at {row.target}: {row.reason}")
    return 1 if regressed else 0


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
    compare = commands.add_parser(
        "compare", help="did resilience regress from BASE to HEAD? (Fisher / Mann-Whitney U)"
    )
    compare.add_argument("base", help="event store of the baseline")
    compare.add_argument("head", help="event store of the change")
    compare.add_argument("--base-session", help="session id in BASE (default: the latest)")
    compare.add_argument("--head-session", help="session id in HEAD (default: the latest)")
    compare.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    compare.set_defaults(handler=_compare)
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
