"""``agentchaos``: the resilience report again, from the event store, and compare two stores.

Bad input (an unknown session, a damaged store, a report path that cannot be written, a
significance level outside (0, 1)) is a message naming the bad value and exit code 2; the store
is only ever read.
"""

from __future__ import annotations

import argparse
import math
import re
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pytest_agentchaos.config.settings import DEFAULT_PATH
from pytest_agentchaos.errors import AgentChaosError, ChaosConfigError, StoreError
from pytest_agentchaos.model.outcomes import FaultResult
from pytest_agentchaos.report.compare import Comparison, MinimumEffect
from pytest_agentchaos.report.escape import visible
from pytest_agentchaos.store.sqlite import EventStore

DEFAULTS = MinimumEffect()


@contextmanager
def reading(path: str) -> Iterator[EventStore]:
    """The store at ``path`` for reading, checked whole; a damaged page is a :class:`StoreError`."""
    try:
        with EventStore.read(path) as store:
            # A damaged page that no query of the report touches would go unnoticed, and the
            # report would count what is left as the truth; the check reads every page once.
            problems = store.integrity_problems()
            if problems:
                raise sqlite3.DatabaseError("; ".join(problems[:3]))
            yield store
    except AgentChaosError:
        raise
    except (sqlite3.DatabaseError, ValueError) as error:  # ValueError: a row that fails to parse
        raise StoreError(
            f"cannot read the event store {path}: {error}; the file was left as it is"
        ) from None


def resolve_session(store: EventStore, wanted: str | None, option: str) -> str | None:
    """``wanted`` if the store has it, the latest session when ``None``, else an error."""
    if wanted is None:
        return store.latest_session()
    known = [row.session_id for row in store.sessions()]
    if wanted in known:
        return wanted
    listing = ", ".join(known[-5:]) if known else "none"
    raise ChaosConfigError(
        f"{option}={wanted!r}: no such session in {store.path}; "
        f"its latest sessions (oldest first): {listing}"
    )


def _report(args: argparse.Namespace) -> int:
    from pytest_agentchaos.report.build import build_report
    from pytest_agentchaos.report.render import check_report_path, render_text, write_reports

    outs = [check_report_path(path, "--out") for path in args.out or ()]
    with reading(args.db) as store:
        session = None if args.all else resolve_session(store, args.session, "--session")
        found = store.session(session) if session else None
        report = build_report(store, session, found.seed if found else None)
    print(render_text(report))
    for path in write_reports(report, outs, "--out"):
        print(f"report written: {path}")
    return 0


def _faults_of(path: str, session: str | None, option: str) -> list[FaultResult]:
    with reading(path) as store:
        return store.faults(resolve_session(store, session, option))


def _group_name(row: Comparison) -> str:
    return f"{visible(row.kind)} at {visible(row.target)}"


def _compare(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from pytest_agentchaos.report.compare import compare_faults, mismatch_warning

    base = _faults_of(args.base, args.base_session, "--base-session")
    head = _faults_of(args.head, args.head_session, "--head-session")
    warning = mismatch_warning(base, head)
    if warning:
        print(f"agentchaos: warning: {visible(warning)}", file=sys.stderr)
    ratio, floor_s = args.min_mttr_rise
    minimum = MinimumEffect(
        rate_drop=args.min_rate_drop / 100,
        mttr_rise_ratio=DEFAULTS.mttr_rise_ratio if ratio is None else ratio,
        mttr_rise_s=DEFAULTS.mttr_rise_s if floor_s is None else floor_s,
    )
    rows = compare_faults(base, head, alpha=args.alpha, minimum=minimum)

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    def num(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
        return "-" if value is None else f"{value * scale:.{digits}g}"

    table = [
        [
            visible(r.kind),
            visible(r.target),
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
    for row in rows:
        if row.note:
            print(f"below the minimum effect: {_group_name(row)}: {row.note}")
    regressed = [r for r in rows if r.regressed]
    for row in regressed:
        print(f"regression: {_group_name(row)}: {row.reason}")
    return 1 if regressed else 0


# ------------------------------------------------------------------- option values
def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def significance_level(text: str) -> float:
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a significance level is between 0 and 1 (exclusive), e.g. 0.05"
        )
    return value


def rate_points(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a recovery-rate drop in percentage points, from 0 to 100, e.g. 5"
        )
    return value


_RISE_PART = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(%|ms|us|µs|s)\s*$")
_SECONDS_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}


def mttr_rise(text: str) -> tuple[float | None, float | None]:
    """``20%,1ms`` -> ``(0.2, 0.001)``; a part not given is ``None`` (it keeps its default)."""
    ratio: float | None = None
    seconds: float | None = None
    for part in text.split(","):
        match = _RISE_PART.match(part)
        if not match:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give a percentage, a duration or both, e.g. 20%,1ms "
                "(units: %, s, ms, us)"
            )
        amount, unit = float(match.group(1)), match.group(2)
        if (ratio if unit == "%" else seconds) is not None:
            kind = "percentage" if unit == "%" else "duration"
            raise argparse.ArgumentTypeError(f"{text!r}: the {kind} is given twice")
        if unit == "%":
            ratio = amount / 100
        else:
            seconds = amount * _SECONDS_PER_UNIT[unit]
    return ratio, seconds


# ------------------------------------------------------------------------- parser
def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser("report", help="print the resilience report from an event store")
    report.add_argument("db", nargs="?", default=str(DEFAULT_PATH), help=f"default {DEFAULT_PATH}")
    which = report.add_mutually_exclusive_group()
    which.add_argument("--session", help="session id (default: the latest session)")
    which.add_argument("--all", action="store_true", help="every session in the store together")
    report.add_argument(
        "--out",
        action="append",
        metavar="PATH",
        help="also write the report here (.json .md .csv .html); repeatable",
    )
    report.set_defaults(handler=_report)


def _add_compare(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compare = commands.add_parser(
        "compare",
        help="did resilience regress from BASE to HEAD? (significant and large enough)",
        description="A group regresses when HEAD is worse, p < --alpha (two-sided Fisher or "
        "chi-square with Yates' correction for rates, Mann-Whitney U for MTTR over recovered "
        "firings), and the change is at least the minimum effect. Exit 1 on a regression.",
    )
    compare.add_argument("base", help="event store of the baseline")
    compare.add_argument("head", help="event store of the change")
    compare.add_argument("--base-session", help="session id in BASE (default: the latest)")
    compare.add_argument("--head-session", help="session id in HEAD (default: the latest)")
    compare.add_argument(
        "--alpha", type=significance_level, default=0.05, help="significance level (0.05)"
    )
    compare.add_argument(
        "--min-rate-drop",
        type=rate_points,
        default=DEFAULTS.rate_drop * 100,
        metavar="POINTS",
        help="smallest recovery-rate fall, in percentage points, that is a regression (5)",
    )
    compare.add_argument(
        "--min-mttr-rise",
        type=mttr_rise,
        default=(None, None),
        metavar="PCT,TIME",
        help="smallest MTTR p50 rise that is a regression; both parts must hold (20%%,1ms); "
        "a part not given keeps its default",
    )
    compare.set_defaults(handler=_compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentchaos",
        description="The resilience report from an agentchaos event store, and compare two stores.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_report(commands)
    _add_compare(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except AgentChaosError as error:
        print(f"agentchaos: error: {visible(str(error))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
