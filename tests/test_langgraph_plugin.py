"""The LangGraph integration as users run it under pytest: the chaos_langgraph ini key, the
agentchaos.assert_parity method, and the report's warnings about graphs."""

from __future__ import annotations

import json
import sqlite3

import pytest
from langgraph_graphs import EXAMPLE

HEADER = f"""
import sys
sys.path.insert(0, {str(EXAMPLE)!r})
import pytest
import checkout
from langgraph.checkpoint.memory import InMemorySaver
from pytest_agentchaos.integrations.langgraph import instrument

CONFIG = {{"configurable": {{"thread_id": "order-1"}}}}
"""

AUTO_SUITE = (
    HEADER
    + """
@pytest.mark.chaos_crash(target="route:review", at_call=1)
@pytest.mark.chaos_crash(target="stock_check", at_call=1, when="after")
def test_checkout_survives(agentchaos):
    graph = checkout.build().compile(checkpointer=InMemorySaver())  # no instrument() call
    state = graph.invoke(checkout.ORDER, CONFIG)
    assert state["status"] == "paid"
    agentchaos.assert_parity(graph, checkout.ORDER, CONFIG)
"""
)


def _report(pytester: pytest.Pytester) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((pytester.path / "r.json").read_text())
    return loaded


def test_auto_instruments_graphs_compiled_in_a_chaos_test(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchaos_langgraph = auto\n")
    pytester.makepyfile(test_auto=AUTO_SUITE)

    result = pytester.runpytest(
        "--chaos",
        "--chaos-seed=7",
        "--chaos-strategy=checkpoint",
        "--chaos-db=s.db",
        "--chaos-report=r.json",
    )

    result.assert_outcomes(passed=1)
    rows = {(r["kind"], r["target"]): r for r in _report(pytester)["rows"]}  # type: ignore[attr-defined]
    assert rows[("crash", "route:review")]["recovered"] == 1
    assert rows[("crash", "stock_check")]["recovered"] == 1
    assert rows[("crash", "route:review")]["strategy"] == "checkpoint"


def test_off_by_default_leaves_graphs_uninstrumented(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_auto=AUTO_SUITE)

    result = pytester.runpytest(
        "--chaos", "--chaos-strategy=checkpoint", "--chaos-db=s.db", "--chaos-report=r.json"
    )

    result.assert_outcomes(passed=1)
    assert _report(pytester)["rows"] == []
    result.stdout.fnmatch_lines(["*chaos_crash(target='route:review'*never fired*"])


def test_without_chaos_the_suite_and_parity_pass_plainly(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchaos_langgraph = auto\n")
    pytester.makepyfile(test_auto=AUTO_SUITE)

    pytester.runpytest().assert_outcomes(passed=1)


def test_a_bad_chaos_langgraph_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchaos_langgraph = always\n")
    pytester.makepyfile(test_auto=AUTO_SUITE)

    result = pytester.runpytest("--chaos", "--chaos-db=s.db")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*chaos_langgraph='always'*auto, off*"])


def test_parity_names_the_first_differing_key_of_a_silent_corruption(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_parity=HEADER
        + """
@pytest.mark.chaos_hallucination(target="fraud_check", field="fraud.score", value=0.5)
def test_parity(agentchaos):
    graph = instrument(checkout.build().compile(checkpointer=InMemorySaver()))
    graph.invoke(checkout.ORDER, CONFIG)
    agentchaos.assert_parity(graph, checkout.ORDER, CONFIG)
"""
    )

    result = pytester.runpytest("--chaos", "--chaos-seed=3", "--chaos-db=s.db")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*thread 'order-1' differs from the fault-free run at 'fraud.score': "
            "0.5 != 0.09 (fault-free); silent: it ended with no error*",
            "*reproduce: pytest --chaos --chaos-seed=3*",
        ]
    )


def test_a_graph_without_a_checkpointer_is_warned_about_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_saver=HEADER
        + """
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.chaos_crash(target="email")
def test_no_saver(agentchaos, n):
    graph = instrument(checkout.build().compile(), name="bare-checkout")
    with pytest.raises(Exception, match="crashed"):
        graph.invoke(checkout.ORDER, CONFIG)
"""
    )

    result = pytester.runpytest(
        "--chaos", "--chaos-strategy=checkpoint", "--chaos-db=s.db", "--chaos-report=r.json"
    )

    result.assert_outcomes(passed=2)
    warning = "checkpoint strategy declined: graph 'bare-checkout' has no checkpointer"
    assert _report(pytester)["warnings"] == [warning]
    assert result.stdout.str().count(warning) == 1
    (row,) = _report(pytester)["rows"]  # type: ignore[misc]
    assert row["unrecovered"] == 2


def test_a_marker_naming_no_node_is_warned_with_the_graphs_nodes(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_typo=HEADER
        + """
@pytest.mark.chaos_crash(target="charge")
def test_typo(agentchaos):
    graph = instrument(checkout.build().compile(), name="checkout")
    assert graph.invoke(checkout.ORDER)["status"] == "paid"
"""
    )

    result = pytester.runpytest("--chaos", "--chaos-db=s.db")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*chaos_crash(target='charge') never fired (graph 'checkout' has cart, stock_check,"
            " fraud_check, review, charge_card, reject, email, route:review)*"
        ]
    )


def test_a_sweep_in_a_chaos_test_lands_in_the_store_and_the_report(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_sweep=HEADER
        + """
from pytest_agentchaos.integrations.langgraph import assert_durable, crash_sweep

def test_sweep(agentchaos, tmp_path):
    result = crash_sweep(
        checkout.make_graph, checkout.ORDER, durability=("sync",), nodes=["email"],
        when=["after"], workdir=tmp_path,
    )
    assert_durable(result)
"""
    )

    result = pytester.runpytest("--chaos", "--chaos-db=s.db", "--chaos-report=r.json")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*kill sweep*", "*sync*email*after*durable*", "*1 of 1 kill*"])
    (point,) = _report(pytester)["sweep"]  # type: ignore[misc]
    assert point["verdict"] == "durable"
    assert point["ran_twice"] == ["email"]
    with sqlite3.connect(pytester.path / "s.db") as db:
        kinds = {k for (k,) in db.execute("SELECT kind FROM events WHERE kind LIKE 'sweep_%'")}
    assert kinds == {"sweep_point", "sweep_ran", "sweep_kill", "sweep_effect"}
