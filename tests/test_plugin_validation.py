"""Bad input, as users type it: every marker family, option and ini key the plugin owns, serially
and under ``-n 2``. Each stops the session with exit code 4 before any test runs, naming the
bad value, never with an INTERNALERROR (docs/usage.md, "Bad input").
"""

from __future__ import annotations

import pytest
from helpers import XDIST, assert_usage_error, output, run_subprocess

# A test body that leaves a trace when it runs, so "no test ran" can be checked on disk.
BAD_TEST = """
import pathlib
import pytest

def test_fine():
    pathlib.Path("ran.txt").write_text("yes")

{marker}
def test_x():
    pathlib.Path("ran.txt").write_text("yes")
"""

# (marker, fragments the message must name), one or more per marker family.
BAD_MARKERS = {
    "fault": ('@pytest.mark.chaos_crash(target="a", probability=1.5)', ["probability=1.5"]),
    "fault_infinite_seconds": (
        '@pytest.mark.chaos_delay(target="a", seconds=float("inf"))',
        ["seconds=inf", "finite"],
    ),
    "fault_bad_glob": (
        '@pytest.mark.chaos_crash(target="pric[")',
        ["target='pric['", "glob", "never closed"],
    ),
    "settings_unknown_strategy": (
        '@pytest.mark.chaos_settings(strategy="nope")',
        ["'nope'", "retry"],
    ),
    "scenario_not_utf8": ('@pytest.mark.chaos_scenario("latin")', ["latin.yaml", "not UTF-8"]),
    "bus": (
        '@pytest.mark.chaos_bus(delivery="sometimes")',
        ["chaos_bus", "delivery='sometimes'", "'at_most_once'", "'at_least_once'"],
    ),
    "cassette": (
        '@pytest.mark.chaos_cassette(record_mode="sometimes")',
        ["chaos_cassette", "'sometimes'", "none, once"],
    ),
}


def _write_bad_test(pytester: pytest.Pytester, marker: str) -> None:
    pytester.makepyfile(test_bad=BAD_TEST.format(marker=marker))
    # A scenario saved in Latin-1: "é" is byte 0xe9, not UTF-8.
    (pytester.path / "latin.yaml").write_bytes(
        "name: café\nfaults:\n  - {kind: crash, target: a}\n".encode("latin-1")
    )


@pytest.mark.parametrize("chaos", [False, True], ids=["inert", "chaos"])
@pytest.mark.parametrize("family", list(BAD_MARKERS))
def test_bad_marker_serially(pytester: pytest.Pytester, family: str, chaos: bool) -> None:
    marker, fragments = BAD_MARKERS[family]
    _write_bad_test(pytester, marker)
    result = pytester.runpytest(*(["--chaos"] if chaos else []))
    assert_usage_error(result, "test_bad.py::test_x", *fragments)
    assert not (pytester.path / "ran.txt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("family", list(BAD_MARKERS))
def test_bad_marker_under_xdist_exits_4_naming_the_value(
    pytester: pytest.Pytester, family: str
) -> None:
    marker, fragments = BAD_MARKERS[family]
    _write_bad_test(pytester, marker)
    # Without --chaos: markers are validated all the same, and the exit code is the same.
    result = run_subprocess(pytester, *XDIST)
    assert_usage_error(result, "test_bad.py::test_x", *fragments)
    assert not (pytester.path / "ran.txt").exists()


@pytest.mark.slow
def test_bad_marker_under_xdist_with_chaos_writes_no_report(pytester: pytest.Pytester) -> None:
    _write_bad_test(pytester, BAD_MARKERS["bus"][0])
    result = run_subprocess(pytester, *XDIST, "--chaos", "--chaos-report=r.json")
    assert_usage_error(result, "delivery='sometimes'")
    assert not (pytester.path / "r.json").exists()


def test_every_bad_marker_of_a_module_is_named_at_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.chaos_crash(target="a", probability=2)
        def test_fault():
            pass

        @pytest.mark.chaos_bus(delivery="sometimes")
        def test_bus():
            pass

        @pytest.mark.chaos_cassette(record_mode="never")
        def test_cassette():
            pass
        """
    )
    text = assert_usage_error(
        pytester.runpytest(),
        "bad chaos marker arguments:",
        "test_bad.py::test_fault: crash: argument probability=2",
        "bad chaos_bus marker arguments:",
        "test_bad.py::test_bus: chaos_bus: argument delivery='sometimes'",
        "bad chaos_cassette marker arguments:",
        "test_bad.py::test_cassette:",
    )
    assert "'never'" in text


# ------------------------------------------------------------------- options and ini
@pytest.mark.parametrize(
    ("ini", "fragments"),
    [
        ("chaos = maybe", ["ini chaos='maybe'", "true or false"]),
        ("chaos_report = x.pdf", ["ini chaos_report='x.pdf'", ".json"]),
    ],
    ids=["chaos_bool", "chaos_report_suffix"],
)
def test_bad_ini_value_names_the_ini_key(
    pytester: pytest.Pytester, ini: str, fragments: list[str]
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    _write_bad_test(pytester, "")
    args = ["--chaos"] if "report" in ini else []
    text = assert_usage_error(pytester.runpytest(*args), *fragments)
    assert "--chaos-report" not in text
    assert not (pytester.path / "ran.txt").exists()


@pytest.mark.slow
def test_bad_ini_value_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchaos = maybe\n")
    _write_bad_test(pytester, "")
    assert_usage_error(run_subprocess(pytester, *XDIST), "ini chaos='maybe'")


UNDER_A_FILE = "is a file, not a folder"


@pytest.mark.parametrize(
    ("option", "fragments"),
    [
        ("--chaos-db=blocker/events.db", ["--chaos-db=", "blocker", UNDER_A_FILE]),
        ("--chaos-report=blocker/r.json", ["--chaos-report=", "blocker", UNDER_A_FILE]),
        ("--chaos-report=sub.json", ["--chaos-report=", "sub.json", "is a directory"]),
        ("--chaos-db=.", ["--chaos-db=", "is a directory"]),
    ],
    ids=["db_under_a_file", "report_under_a_file", "report_is_a_folder", "db_is_a_folder"],
)
def test_unwritable_output_paths_are_usage_errors_at_start_up(
    pytester: pytest.Pytester, option: str, fragments: list[str]
) -> None:
    (pytester.path / "blocker").write_text("a regular file")
    (pytester.path / "sub.json").mkdir()
    _write_bad_test(pytester, "")
    result = pytester.runpytest("--chaos", option)
    assert_usage_error(result, *fragments)
    assert not (pytester.path / "ran.txt").exists(), "checked only after the suite ran"


@pytest.mark.skipif(
    not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
    reason="root writes into read-only folders",
)
def test_read_only_folder_is_a_usage_error(pytester: pytest.Pytester) -> None:
    locked = pytester.path / "locked"
    locked.mkdir(mode=0o555)
    _write_bad_test(pytester, "")
    result = pytester.runpytest("--chaos", "--chaos-db=locked/events.db")
    assert_usage_error(result, "--chaos-db=", "locked", "read-only")


@pytest.mark.slow
def test_unwritable_report_path_under_xdist(pytester: pytest.Pytester) -> None:
    (pytester.path / "blocker").write_text("a regular file")
    _write_bad_test(pytester, "")
    result = run_subprocess(pytester, *XDIST, "--chaos", "--chaos-report=blocker/r.html")
    assert_usage_error(result, "--chaos-report=", "blocker", "is a file, not a folder")
    assert not (pytester.path / "ran.txt").exists()


def test_good_markers_still_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.chaos_crash(target="pric[ei]ng")
        @pytest.mark.chaos_delay(target="[[]x", seconds=0.0)
        @pytest.mark.chaos_bus(delivery="at_least_once")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-db=s.db")
    assert result.ret == pytest.ExitCode.OK, output(result)
