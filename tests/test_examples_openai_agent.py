"""The OpenAI agent example passes as users run it, and its report says what the agent survives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openai")
pytest.importorskip("vcr")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "openai_agent"
CASSETTE = EXAMPLE / "cassettes" / "order_status.yaml"
TESTS = 12

#: What each test's faults end as under ``--chaos --chaos-seed=1234``.
EXPECTED = {
    "test_the_agent_looks_the_order_up_and_answers": [],
    "test_rate_limit_is_retried_by_the_sdk": [("api_error", "recovered")],
    "test_timeout_waits_for_the_client_timeout_and_is_retried": [("api_error", "recovered")],
    "test_overload_is_made_good_by_the_fallback_model": [("api_error", "recovered")],
    "test_malformed_body_is_made_good_by_the_fallback_model": [("api_error", "recovered")],
    "test_outage_of_both_models_is_unrecovered": [("api_error", "unrecovered")] * 2,
    "test_refusal_is_asked_again": [("refusal", "recovered")],
    "test_truncated_answer_is_asked_again_with_more_tokens": [("token_limit", "recovered")],
    "test_wrong_status_is_caught_by_the_check": [("hallucination", "recovered")],
    "test_wrong_delivery_estimate_goes_unnoticed": [("hallucination", "silent")],
    "test_small_delays_are_tolerated": [("delay", "tolerated")] * 2,
    "test_recorded_conversation_replays_offline": [("api_error", "recovered")],
}


def run_example(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # As a user runs it: from its folder, with its pytest.ini, untouched by this run's PYTEST_*
    # variables (xdist worker name, PYTEST_ADDOPTS) and by an API key in the environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OPENAI_"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--chaos-db={tmp_path / 'events.db'}",
            *args,
        ],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_example_passes_in_the_steady_state(tmp_path: Path) -> None:
    result = run_example(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{TESTS} passed" in result.stdout
    assert "agentchaos resilience report" not in result.stdout


@pytest.fixture(scope="module")
def chaos_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("openai_agent")
    report = tmp / "chaos.json"
    result = run_example(tmp, "--chaos", "--chaos-seed=1234", f"--chaos-report={report}")
    return {"result": result, "report": report}


def test_example_passes_under_chaos(chaos_session: dict[str, Any]) -> None:
    result = chaos_session["result"]

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{TESTS} passed" in result.stdout
    assert "agentchaos resilience report (seed 1234)" in result.stdout


def test_report_shows_what_the_agent_survives(chaos_session: dict[str, Any]) -> None:
    report = json.loads(chaos_session["report"].read_text(encoding="utf-8"))

    assert report["seed"] == 1234
    outcomes = {
        test["nodeid"].split("::")[-1]: [(f["kind"], f["outcome"]) for f in test["faults"]]
        for test in report["tests"]
    }
    assert outcomes == EXPECTED
    assert all(test["outcome"] == "passed" for test in report["tests"])
    rows = {row["kind"]: row for row in report["rows"]}
    assert {row["target"] for row in report["rows"]} == {"llm"}
    counts = {
        kind: (row["recovered"], row["unrecovered"], row["silent"], row["tolerated"])
        for kind, row in rows.items()
    }
    assert counts == {
        "api_error": (5, 2, 0, 0),
        "refusal": (1, 0, 0, 0),
        "token_limit": (1, 0, 0, 0),
        "hallucination": (1, 0, 1, 0),
        "delay": (0, 0, 0, 2),
    }


def test_committed_cassette_holds_no_secret_or_platform_header() -> None:
    text = CASSETTE.read_text(encoding="utf-8").lower()

    assert text.count("- request:") == 2
    assert "authorization" not in text
    assert "x-stainless" not in text
    assert "sk-" not in text
