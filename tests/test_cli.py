"""`agentchaos` (and `python -m pytest_agentchaos`) with bad input: each a message naming the bad
value and a non-zero exit, never a traceback, and the store left byte for byte as it was.

In-process (``main([...])``) wherever no process is needed.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MS, firing, write_store

from pytest_agentchaos.cli import main

AGENTCHAOS = str(Path(sys.executable).with_name("agentchaos"))


@pytest.fixture(scope="module")
def written_store(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real store of 300 firings (two thirds recovered) in the session ``s1``, as bytes."""
    path = tmp_path_factory.mktemp("store") / "events.db"
    write_store(path, [firing(n, MS if n % 3 else None) for n in range(300)], session="s1")
    return path.read_bytes()


@pytest.fixture
def store(tmp_path: Path, written_store: bytes) -> Path:
    """A copy of that store for one test (written once: 300 commits take seconds)."""
    path = tmp_path / "events.db"
    path.write_bytes(written_store)
    return path


def fails_cleanly(
    capsys: pytest.CaptureFixture[str], argv: list[str], *fragments: str, files: list[Path]
) -> str:
    """``argv`` exits 2 with an ``agentchaos`` error naming every fragment, prints no report,
    and leaves ``files`` as they were."""
    before = [path.read_bytes() for path in files]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "agentchaos" in err
    assert "error" in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} missing from {err!r}"
    assert "seed " not in out, "a report was printed despite the error"
    assert [path.read_bytes() for path in files] == before, "the store was changed"
    return err


# -------------------------------------------------------------------------- damaged store
@pytest.mark.parametrize("which", ["every page after the first", "every other page", "page 2"])
def test_report_on_a_store_with_damaged_pages_is_a_clear_error(
    store: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    data = bytearray(store.read_bytes())
    page = int.from_bytes(data[16:18], "big")  # the page size, from the SQLite header
    count = len(data) // page
    assert count > 10
    pages = {
        "every page after the first": range(1, count),
        "every other page": range(1, count, 2),
        "page 2": [1],  # a page no query of the report reads: only an integrity check finds it
    }[which]
    garbage = random.Random(which)
    for number in pages:
        data[number * page : (number + 1) * page] = garbage.randbytes(page)
    store.write_bytes(bytes(data))

    err = fails_cleanly(
        capsys,
        ["report", str(store)],
        f"cannot read the event store {store}",
        "malformed",
        "left as it is",
        files=[store],
    )
    assert "Traceback" not in err
    fails_cleanly(capsys, ["compare", str(store), str(store)], str(store), files=[store])


# ------------------------------------------------------------------------------ --out
def test_report_out_with_an_unknown_format_names_it_and_the_good_ones(
    store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fails_cleanly(
        capsys,
        ["report", str(store), "--out", str(tmp_path / "x.pdf")],
        "--out=",
        "x.pdf",
        "unknown report format '.pdf'",
        ".json, .md, .csv, .html",
        files=[store],
    )
    assert not (tmp_path / "x.pdf").exists()


def test_report_out_under_a_regular_file_is_an_error(
    store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("mine")
    good = tmp_path / "good.json"
    fails_cleanly(
        capsys,
        ["report", str(store), "--out", str(good), "--out", str(tmp_path / "afile/sub/r.json")],
        "afile/sub/r.json",
        f"{tmp_path / 'afile'} is a file, not a folder",
        files=[store, tmp_path / "afile"],
    )
    assert not good.exists(), "a report was written before every path was checked"


def test_report_out_naming_a_directory_is_an_error(
    store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "dir.json").mkdir()
    fails_cleanly(
        capsys,
        ["report", str(store), "--out", str(tmp_path / "dir.json")],
        "dir.json",
        "is a directory",
        files=[store],
    )


def test_report_out_writes_every_format_into_new_folders(
    store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outs = [tmp_path / "new" / f"r{suffix}" for suffix in (".json", ".MD", ".csv", ".html")]
    assert main(["report", str(store), *[f"--out={out}" for out in outs]]) == 0
    out = capsys.readouterr().out
    for path in outs:
        assert f"report written: {path}" in out
        assert path.stat().st_size > 100


# --------------------------------------------------------------------------- sessions
def test_report_of_an_unknown_session_names_it_and_the_known_ones(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fails_cleanly(
        capsys,
        ["report", str(store), "--session", "nosuch"],
        "--session='nosuch': no such session in",
        "its latest sessions (oldest first): s1",
        files=[store],
    )


@pytest.mark.parametrize("option", ["--base-session", "--head-session"])
def test_compare_of_an_unknown_session_names_it(
    store: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    fails_cleanly(
        capsys,
        ["compare", str(store), str(store), option, "nosuch"],
        f"{option}='nosuch': no such session",
        files=[store],
    )


def test_report_and_compare_of_a_named_session(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(store), "--session", "s1"]) == 0
    assert "300 faults · 66.7% recovered" in capsys.readouterr().out
    assert main(["compare", str(store), str(store), "--base-session=s1", "--head-session=s1"]) == 0


def test_session_and_all_together_are_a_usage_error(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fails_cleanly(
        capsys,
        ["report", str(store), "--session", "s1", "--all"],
        "not allowed with argument",
        files=[store],
    )


# ------------------------------------------------------------------------ option values
@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--alpha", "5"], "argument --alpha: '5': a significance level is between 0 and 1"),
        (["--alpha", "-1"], "argument --alpha: '-1': a significance level is between 0 and 1"),
        (["--alpha", "0"], "argument --alpha: '0'"),
        (["--alpha=nan"], "argument --alpha: 'nan' is not a finite number"),
        (["--alpha", "often"], "argument --alpha: 'often' is not a number"),
        (["--min-rate-drop", "120"], "argument --min-rate-drop: '120': a recovery-rate drop"),
        (["--min-rate-drop=-5"], "argument --min-rate-drop: '-5'"),
        (["--min-mttr-rise", "20"], "argument --min-mttr-rise: '20': give a percentage"),
        (["--min-mttr-rise", "20%,1h"], "argument --min-mttr-rise: '20%,1h'"),
        (["--min-mttr-rise=-3%"], "argument --min-mttr-rise: '-3%'"),
        (["--min-mttr-rise=5%,1ms,9%"], "'5%,1ms,9%': the percentage is given twice"),
    ],
)
def test_compare_rejects_bad_option_values(
    store: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    fails_cleanly(capsys, ["compare", str(store), str(store), *argv], fragment, files=[store])


# ------------------------------------------------------------------- python -m
def test_python_m_pytest_agentchaos_answers_like_agentchaos(tmp_path: Path) -> None:
    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "report", "--help"], capture_output=True, text=True, check=False
        )

    module = run(sys.executable, "-m", "pytest_agentchaos")
    script = run(AGENTCHAOS)
    assert module.returncode == script.returncode == 0, module.stderr
    assert module.stdout == script.stdout
    assert module.stdout.startswith("usage: agentchaos report")
    missing = subprocess.run(
        [sys.executable, "-m", "pytest_agentchaos", "report", str(tmp_path / "no.db")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert f"agentchaos: error: no event store at {tmp_path / 'no.db'}" in missing.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_report_out_in_a_read_only_folder_is_an_error(
    store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        fails_cleanly(
            capsys,
            ["report", str(store), "--out", str(locked / "r.html")],
            f"the folder {locked} is read-only",
            files=[store],
        )
    finally:
        locked.chmod(0o700)
