"""Hostile strings in reports: agent names, test ids and messages are data, never markup or
control, in every format (terminal, Markdown, HTML, CSV, JSON) and in `agentchaos compare`."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import MS, firing, write_store

from pytest_agentchaos.cli import main
from pytest_agentchaos.report.build import build_report
from pytest_agentchaos.report.escape import csv_text, html_text, markdown_text, visible
from pytest_agentchaos.report.model import Report
from pytest_agentchaos.report.render import (
    render_csv,
    render_html,
    render_json,
    render_markdown,
    render_text,
)
from pytest_agentchaos.store.sqlite import EventStore, RunRow

TITLE = "\x1b]0;pwned\x07"  # sets the terminal's title when printed raw
HOSTILE_TARGETS = [
    TITLE,
    "a|b\nc",
    "<script>alert(1)</script>",
    "=cmd()",
    "+1",
    "-2+3",
    "@SUM(A1)",
    " =HYPERLINK(x)",
    "\tTAB",
    "x\u202eevil",  # right-to-left override
    "\x1b[2J\x1b[31mred",  # clear the screen, then red
    "pricing\r\x9bcsi",  # carriage return and the C1 control sequence introducer
]
HOSTILE_NODE = "t.py::test[\x1b[31m|<img src=x onerror=alert(1)>\n# heading]"
HOSTILE_WARNING = "chaos_crash(target='\x1b]0;pwned\x07|<b>')"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """A report from a real store whose names and test ids are hostile."""
    path = tmp_path_factory.mktemp("hostile") / "e.db"
    with EventStore.open(path) as store:
        store.start_session("s", 1, [], "test", 1)
        for n, target in enumerate(HOSTILE_TARGETS):
            fault = firing(n, MS, target=target)
            run = RunRow(
                fault.run_id, "s", HOSTILE_NODE, 1, n, "chaos", "failed", 0, 1, 0.0, "main", TITLE
            )
            events = [(1, target, "fault_never_fired", None, HOSTILE_WARNING)]
            store.write_run(run, events, [fault])
        return build_report(store, "s", 1)


def raw_controls(text: str) -> list[str]:
    """Characters that a terminal or a browser would act on rather than show (\\n excepted:
    the report's own line breaks)."""
    return [
        char
        for char in text
        if char != "\n" and unicodedata.category(char) in {"Cc", "Cf", "Cs", "Zl", "Zp"}
    ]


def test_terminal_report_shows_control_characters_and_obeys_none(report: Report) -> None:
    text = render_text(report)
    assert raw_controls(text) == []
    assert "\\x1b]0;pwned\\x07" in text
    assert "a|b\\nc" in text
    assert "x\\u202eevil" in text
    assert "pricing\\r\\x9bcsi" in text
    lines = text.splitlines()
    # one line per row: header, rule, a row per target, the totals, warning, a reproduce per run
    assert len(lines) == 2 + len(HOSTILE_TARGETS) + 1 + 1 + len(HOSTILE_TARGETS)
    assert "reproduce: pytest --chaos --chaos-seed=1 't.py::test[\\x1b[31m|<img" in text


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_keeps_its_table_shape_and_lets_no_html_through(report: Report) -> None:
    text = render_markdown(report)
    assert raw_controls(text) == []
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(HOSTILE_TARGETS)
    assert {unescaped_pipes(line) for line in table} == {unescaped_pipes(table[0])}
    outside_code = "\n".join(line for line in text.splitlines() if not line.startswith("    "))
    assert re.search(r"(?<!\\)<", outside_code) is None, "raw HTML in the Markdown report"
    assert "\\<script\\>alert(1)\\</script\\>" in text
    assert "a\\|b\\\\nc" in text  # the \n escape's backslash is itself escaped for Markdown
    assert not re.search(r"^#+ heading", text, re.M)
    assert text.count("\n## ") == 2  # only the report's own sections: Warnings and Reproduce


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.extend(attrs)


def test_html_has_only_its_own_markup_and_no_raw_control_characters(report: Report) -> None:
    text = render_html(report)
    assert raw_controls(text) == []
    parser = _Tags()
    parser.feed(text)
    own = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "thead"}
    assert parser.tags <= own | {"tbody", "tr", "th", "td", "ul", "li", "code"}
    assert parser.attributes == [("charset", "utf-8")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "\\x1b]0;pwned\\x07" in text


def test_csv_neutralises_formulas_and_keeps_one_line_per_row(report: Report) -> None:
    text = render_csv(report)
    assert raw_controls(text) == []
    assert len(text.splitlines()) == 1 + len(HOSTILE_TARGETS)
    rows = list(csv.DictReader(io.StringIO(text)))
    targets = {row["target"] for row in rows}
    for cell in (value for row in rows for value in row.values()):
        assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert {"'=cmd()", "'+1", "'-2+3", "'@SUM(A1)", "' =HYPERLINK(x)", "'\\tTAB"} <= targets
    assert "\\x1b]0;pwned\\x07" in targets
    assert {row["strategy"] for row in rows} == {"\\x1b]0;pwned\\x07"}


def test_json_keeps_every_string_exact_and_escaped(report: Report) -> None:
    text = render_json(report)
    assert raw_controls(text) == []
    data = json.loads(text)
    assert sorted(row["target"] for row in data["rows"]) == sorted(HOSTILE_TARGETS)
    assert {test["nodeid"] for test in data["tests"]} == {HOSTILE_NODE}


@pytest.mark.parametrize("escape", [visible, markdown_text, html_text, csv_text])
def test_lone_surrogates_and_separators_are_shown_not_written(escape: object) -> None:
    assert callable(escape)
    shown = escape("a\ud800b\u2028c\u200bd")
    assert raw_controls(shown) == []
    shown.encode("utf-8")  # a lone surrogate would make writing the report fail
    assert "\\ud800" in shown.replace("\\\\", "\\")


def test_plain_names_are_left_as_they_are() -> None:
    name = "tests/test_a.py::test_launch[pricing-0.5] prüfung 価格 🙂"
    assert visible(name) == name
    assert html_text(name) == name
    assert csv_text(name) == name
    assert csv_text("-") == "'-"  # a lone minus too: some spreadsheets read it as a formula


def test_compare_prints_hostile_names_visibly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a.db", "b.db"):
        write_store(tmp_path / name, [firing(n, MS, target=TITLE) for n in range(3)])
    assert main(["compare", str(tmp_path / "a.db"), str(tmp_path / "b.db")]) == 0
    out = capsys.readouterr().out
    assert raw_controls(out) == []
    assert "\\x1b]0;pwned\\x07" in out


def test_the_kill_sweep_table_shows_a_hostile_node_name_without_obeying_it() -> None:
    from pytest_agentchaos.report.model import SweepRow
    from pytest_agentchaos.report.sweep import render_sweep

    point = SweepRow(
        nodeid="test_x.py::test_sweep",
        durability="sync",
        node="charge\x1b]0;pwned\x07",
        when="after",
        verdict="durable",
        durable=True,
        resumed=["charge\x1b]0;pwned\x07"],
        final_equal=True,
        ran_twice=[],
        duplicated_effects=0,
        error=None,
    )
    text = "\n".join(render_sweep([point]))
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "charge\\x1b]0;pwned\\x07" in text
