"""OpenAI-SDK chaos and LLM cassettes as users run them: markers, fixtures, options, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import output

pytest.importorskip("openai")
pytest.importorskip("vcr")

API_KEY = "sk-pytester-SECRET-9f2e71"

COMMON = f'''
import asyncio
import os

import pytest

from pytest_agentchaos.testing.openai_server import LocalOpenAIServer

KEY = "{API_KEY}"


@pytest.fixture
def server():
    with LocalOpenAIServer() as srv:
        yield srv


def ask(client, **kwargs):
    messages = [{{"role": "user", "content": "hi"}}]
    return client.chat.completions.create(model="gpt-test", messages=messages, **kwargs)
'''

SDK_FAULTS = """
@pytest.mark.chaos_api_error(target="openai", error="rate_limit", retry_after=0.2, at_call=1)
def test_sync(agentchaos, agentchaos_openai, server):
    client = agentchaos_openai(server.base_url, api_key=KEY)
    assert ask(client).choices[0].message.content == "echo: hi"
    agentchaos.assert_recovered("openai")
    assert agentchaos.calls("openai") == 2


@pytest.mark.chaos_api_error(target="writer", error="rate_limit", retry_after=0.2, at_call=1)
def test_async(agentchaos_openai, server):
    client = agentchaos_openai(server.base_url, name="writer", api_key=KEY, async_=True)

    async def go():
        async with client:
            return await ask(client)

    assert asyncio.run(go()).choices[0].message.content == "echo: hi"


@pytest.mark.chaos_api_error(target="streamer", error="rate_limit", retry_after=0.2, at_call=1)
def test_stream(agentchaos_openai, server):
    client = agentchaos_openai(server.base_url, name="streamer", api_key=KEY)
    chunks = ask(client, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hi"


@pytest.mark.chaos_api_error(target="strict", error="malformed_json")
def test_malformed(agentchaos_openai, server):
    client = agentchaos_openai(server.base_url, name="strict", api_key=KEY, max_retries=0)
    with pytest.raises(ValueError):
        ask(client)


@pytest.mark.chaos_api_error(target="slow", error="timeout")
def test_timeout(agentchaos_openai, server):
    import time

    import openai

    client = agentchaos_openai(server.base_url, name="slow", max_retries=0, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(client)
    assert 0.2 <= time.monotonic() - started < 1.0
"""

CASSETTE_TEST = """
@pytest.fixture
def base_url():
    if os.environ.get("AGENTCHAOS_RECORD"):
        with LocalOpenAIServer() as srv:
            yield srv.base_url
    else:
        yield "http://127.0.0.1:9/v1"  # nothing listens there: replay must be offline


@pytest.mark.chaos_cassette
@pytest.mark.chaos_api_error(target="openai", error="rate_limit", retry_after=0.1, at_call=1)
def test_echo(agentchaos_openai, base_url):
    client = agentchaos_openai(base_url, api_key=KEY)
    assert ask(client).choices[0].message.content == "echo: hi"
    chunks = ask(client, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"
"""


def _rows(path: Path) -> dict[str, dict[str, object]]:
    report = json.loads(path.read_text())
    return {row["target"]: row for row in report["rows"]}


def _files_holding(root: Path, secret: str) -> list[str]:
    """Files under ``root`` holding ``secret``, but for test sources and their bytecode."""
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc")
        and secret.encode() in path.read_bytes()
    )


def test_markers_drive_sdk_faults_into_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sdk=COMMON + SDK_FAULTS)
    reports = [f"--chaos-report=chaos.{suffix}" for suffix in ("json", "md", "csv", "html")]
    result = pytester.runpytest("--chaos", "--chaos-seed=3", "--chaos-db=events.db", *reports)
    result.assert_outcomes(passed=5)
    rows = _rows(pytester.path / "chaos.json")
    for target in ("openai", "writer", "streamer"):
        row = rows[target]
        assert (row["kind"], row["injected"], row["recovered"]) == ("api_error", 1, 1), row
        assert isinstance(row["mttr_p50_s"], float), row
        assert row["mttr_p50_s"] >= 0.2, row
    for target in ("strict", "slow"):
        assert (rows[target]["injected"], rows[target]["unrecovered"]) == (1, 1), rows[target]
    written = {p.name for p in pytester.path.iterdir()}
    assert {"events.db", "chaos.json", "chaos.md", "chaos.csv", "chaos.html"} <= written
    assert _files_holding(pytester.path, API_KEY) == []


def test_without_chaos_the_markers_are_inert(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inert=COMMON
        + """
@pytest.mark.chaos_api_error(target="openai", error="malformed_json")
def test_plain(agentchaos_openai, server):
    client = agentchaos_openai(server.base_url, max_retries=0)
    assert ask(client).choices[0].message.content == "echo: hi"
"""
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_cassette_recorded_once_replays_offline_under_chaos(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_flow=COMMON + CASSETTE_TEST)
    monkeypatch.setenv("AGENTCHAOS_RECORD", "1")
    pytester.runpytest("--chaos-record-mode=once").assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_flow" / "test_echo.yaml"
    assert cassette.exists()
    text = cassette.read_text()
    assert "x-stainless" not in text
    assert "authorization" not in text.lower()

    monkeypatch.delenv("AGENTCHAOS_RECORD")
    result = pytester.runpytest("--chaos", "--chaos-db=events.db", "--chaos-report=chaos.json")
    result.assert_outcomes(passed=1)
    row = _rows(pytester.path / "chaos.json")["openai"]
    assert (row["injected"], row["recovered"]) == (1, 1)
    assert isinstance(row["mttr_p50_s"], float)
    assert row["mttr_p50_s"] >= 0.1
    assert _files_holding(pytester.path, API_KEY) == []


def test_an_absolute_cassette_path_is_used_as_it_is(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    elsewhere = tmp_path_factory.mktemp("shared-cassettes") / "echo.yaml"
    test = CASSETTE_TEST.replace(
        "@pytest.mark.chaos_cassette\n", f"@pytest.mark.chaos_cassette({str(elsewhere)!r})\n"
    )
    assert str(elsewhere) in test
    pytester.makepyfile(test_flow=COMMON + test)
    monkeypatch.setenv("AGENTCHAOS_RECORD", "1")
    pytester.runpytest("--chaos-record-mode=once").assert_outcomes(passed=1)
    assert elsewhere.exists()
    assert not (pytester.path / "cassettes").exists()

    monkeypatch.delenv("AGENTCHAOS_RECORD")
    elsewhere.rename(elsewhere.with_suffix(".recorded"))
    pytester.runpytest().assert_outcomes(failed=1)  # replay reads that very file
    elsewhere.with_suffix(".recorded").rename(elsewhere)
    pytester.runpytest("--chaos").assert_outcomes(passed=1)


def test_missing_cassette_fails_naming_the_request(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=COMMON + CASSETTE_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    text = output(result)
    assert "CassetteMismatchError" in text
    assert "does not exist, so it has no answer for POST /v1/chat/completions" in text
    assert '"content":"hi"' in text
    assert "--chaos-record-mode=once" in text


def test_cassette_fixture_paths_and_record_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_paths="""
import pytest

def test_default(agentchaos_cassette):
    assert agentchaos_cassette._path.endswith("cassettes/test_paths/test_default.yaml")
    assert agentchaos_cassette.record_mode == "none"

class TestGroup:
    @pytest.mark.parametrize("n", [1])
    def test_param(self, agentchaos_cassette, n):
        assert agentchaos_cassette._path.endswith(
            "cassettes/test_paths/TestGroup.test_param[1].yaml"
        )

@pytest.mark.chaos_cassette("shared/one.yaml", record_mode="new_episodes")
def test_marker(agentchaos_cassette, request):
    assert agentchaos_cassette._path == str(request.path.parent / "shared" / "one.yaml")
    assert agentchaos_cassette.record_mode == "new_episodes"

@pytest.mark.chaos_cassette(record_mode="all")
def test_cli_wins(agentchaos_cassette):
    assert agentchaos_cassette.record_mode == "once"
"""
    )
    result = pytester.runpytest("-k", "not cli_wins")
    result.assert_outcomes(passed=3)
    pytester.runpytest("-k", "cli_wins", "--chaos-record-mode=once").assert_outcomes(passed=1)


CASSETTE_FIRST = """
import httpx2
import pytest

@pytest.fixture
def first_answer():
    # Nothing listens on port 9: only a cassette in use (replay only, no file) answers, with
    # its mismatch error; without one the connection is refused.
    try:
        httpx2.get("http://127.0.0.1:9/v1/models", timeout=5)
    except Exception as error:
        return type(error).__name__
    return "an answer"

@pytest.mark.parametrize("n", [pytest.param(1, marks=pytest.mark.chaos_cassette), 2])
def test_param(first_answer, n):
    assert first_answer == ("CassetteMismatchError" if n == 1 else "ConnectError")

@pytest.mark.chaos_cassette
class TestMarked:
    def test_in_class(self, first_answer):
        assert first_answer == "CassetteMismatchError"

@pytest.mark.chaos_crash(target="nobody")
def test_unmarked(first_answer, agentchaos):
    assert first_answer == "ConnectError"
"""


@pytest.mark.parametrize("chaos", [(), ("--chaos", "--chaos-db=s.db")], ids=["plain", "chaos"])
def test_a_marked_tests_cassette_is_in_use_before_its_fixtures_and_only_there(
    pytester: pytest.Pytester, chaos: tuple[str, ...]
) -> None:
    """Marked on a class or on one parameter: the fixtures of exactly those tests see it."""
    pytester.makepyfile(test_first=CASSETTE_FIRST)
    pytester.runpytest(*chaos).assert_outcomes(passed=4)


def test_cassette_marker_selects_with_dash_m(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_select="""
import pytest

@pytest.mark.chaos_cassette
def test_marked():
    pass

def test_plain():
    pass
"""
    )
    pytester.runpytest("-m", "chaos_cassette").assert_outcomes(passed=1, deselected=1)


@pytest.mark.parametrize(
    ("marker", "fragments"),
    [
        (
            'chaos_cassette(record_mode="sometimes")',
            ["test_bad.py::test_x", "bad record mode 'sometimes'", "none, once, new_episodes, all"],
        ),
        ("chaos_cassette(mode='once')", ["unknown argument 'mode'", "path, record_mode"]),
        ("chaos_cassette('a.yaml', 'b.yaml')", ["at most one positional argument"]),
    ],
)
def test_bad_cassette_markers_are_usage_errors(
    pytester: pytest.Pytester, marker: str, fragments: list[str]
) -> None:
    pytester.makepyfile(
        test_bad=f"""
import pytest

@pytest.mark.{marker}
def test_x():
    pass
"""
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = output(result)
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text


def test_bad_record_mode_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ok="def test_ok(): pass")
    result = pytester.runpytest("--chaos-record-mode=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = output(result)
    assert "--chaos-record-mode: bad record mode 'sometimes'" in text
    assert "allowed: none, once, new_episodes, all" in text
    pytester.makeini("[pytest]\nchaos_record_mode = nope\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ini chaos_record_mode: bad record mode 'nope'" in output(result)


def test_help_and_markers_document_cassettes(pytester: pytest.Pytester) -> None:
    help_text = pytester.runpytest("--help").stdout.str()
    assert "--chaos-record-mode=MODE" in help_text
    assert "chaos_record_mode (string):" in help_text
    markers = pytester.runpytest("--markers").stdout.str()
    assert "@pytest.mark.chaos_cassette(path=None, record_mode='none'):" in markers


def test_openai_fixture_closes_its_clients(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_close=COMMON
        + """
made = []

def test_use(agentchaos_openai, server):
    made.append(agentchaos_openai(server.base_url))
    made.append(agentchaos_openai(server.base_url, async_=True))
    assert ask(made[0]).choices[0].message.content == "echo: hi"
    assert not made[0].is_closed()

def test_closed():
    assert [client.is_closed() for client in made] == [True, True]
"""
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_bad_cassette_marker_under_xdist_stops_cleanly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
import pytest

@pytest.mark.chaos_cassette(record_mode="sometimes")
def test_x():
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:langsmith_plugin", "-p", "xdist", "-n", "2")
    text = output(result)
    assert result.ret != pytest.ExitCode.OK, text
    assert "INTERNALERROR" not in text
    assert "test_bad.py::test_x" in text
    assert "bad record mode 'sometimes'" in text
