"""Chaos tests of the launch pipeline: one test per outcome a fault can have.

Run them twice:

    pytest                            # steady state: the chaos markers are inert
    pytest --chaos --chaos-seed=1234  # the faults fire; the resilience report follows

Every test passes both ways. Under ``--chaos`` the assertions on ``agentchaos`` check what
became of each fault (recovered, unrecovered, silent or tolerated); without it the fixture is
inert (no faults, ``assert_recovered`` passes), so the same test checks the steady state.
"""

from __future__ import annotations

import pytest
from pipeline import CATALOG, PRODUCT, LaunchFailed, Warehouse, launch

from pytest_agentchaos import Outcome

APPROVED_PRICE = CATALOG["TR-2"]["price"]


# recovered: the coordinator's own retry makes the crash good --------------------------------
@pytest.mark.chaos_crash(target="pricing", at_call=1)
def test_pricing_crash_is_recovered_by_the_coordinator(agentchaos, warehouse):
    result = launch(PRODUCT, warehouse)

    assert result["status"] == "published"
    agentchaos.assert_recovered("pricing", within=0.5)


# recovered: the plugin's retry strategy, and the side effect is not repeated ----------------
@pytest.mark.chaos_crash(target="inventory", at_call=1, when="after")
@pytest.mark.chaos_settings(strategy="retry")
def test_inventory_crash_after_reserving_does_not_reserve_twice(agentchaos, warehouse):
    result = launch(PRODUCT, warehouse)

    assert result["reservation"]["reserved"] == PRODUCT["quantity"]
    # The crash came after the stock was reserved; the retry got the recorded result.
    assert warehouse.log == [("TR-2", PRODUCT["quantity"])]
    agentchaos.assert_recovered("inventory")
    if agentchaos.enabled:
        assert len(agentchaos.events("effect_replayed", agent="inventory")) == 1
        assert [f.strategy for f in agentchaos.faults()] == ["retry"]


# recovered: a user strategy from conftest.py -------------------------------------------------
@pytest.mark.chaos_crash(target="pricing")  # every pricing call crashes
@pytest.mark.chaos_settings(strategy="fallback_price")
def test_pricing_outage_falls_back_to_the_catalog_price(agentchaos, warehouse):
    result = launch(PRODUCT, warehouse)

    assert result["quote"]["price"] == APPROVED_PRICE
    agentchaos.assert_recovered("pricing")
    if agentchaos.enabled:
        assert result["quote"]["source"] == "fallback"
        assert {f.strategy for f in agentchaos.faults()} == {"fallback_price"}


# recovered: a YAML scenario (crash, then a wrong price caught by marketing) ------------------
@pytest.mark.chaos_scenario("pricing_outage")
def test_wrong_price_is_caught_before_publishing(agentchaos, warehouse):
    result = launch(PRODUCT, warehouse)

    assert result["quote"]["price"] == APPROVED_PRICE
    assert result["campaign"]["price_text"] == f"{APPROVED_PRICE:.2f} EUR"
    agentchaos.assert_recovered("pricing")
    agentchaos.assert_no_silent()


# unrecovered: a hang longer than the coordinator's budget ------------------------------------
@pytest.mark.chaos_hang(target="pricing", seconds=0.3)
def test_pricing_hang_longer_than_the_budget_fails_the_launch(agentchaos, warehouse):
    if not agentchaos.enabled:
        assert launch(PRODUCT, warehouse, budget_s=0.2)["status"] == "published"
        return

    with pytest.raises(LaunchFailed, match="out of time"):
        launch(PRODUCT, warehouse, budget_s=0.2)

    faults = agentchaos.faults()
    assert faults
    assert all(f.outcome is Outcome.UNRECOVERED for f in faults)
    assert warehouse.log == []  # it failed before anything was reserved


# silent: a hallucinated field that no agent checks -------------------------------------------
@pytest.mark.chaos_hallucination(
    target="listing", field="description", value="Waterproof to 100 m, with a lifetime warranty."
)
def test_hallucinated_description_goes_unnoticed(agentchaos, warehouse):
    result = launch(PRODUCT, warehouse)

    assert result["status"] == "published"
    if agentchaos.enabled:
        # This test documents a gap: nothing checks the description, so the false claim is
        # published. Add a check to the marketing agent and this fault turns "recovered".
        [fault] = agentchaos.faults()
        assert fault.outcome is Outcome.SILENT
        assert fault.propagation == 1  # marketing received the corrupted listing
        assert result["campaign"]["body"].startswith("Waterproof")


# tolerated: small delays everywhere, well within the budget ----------------------------------
@pytest.mark.chaos_delay(target="*", seconds=0.01)
def test_small_delays_are_tolerated(agentchaos, warehouse: Warehouse):
    result = launch(PRODUCT, warehouse, budget_s=0.5)

    assert result["status"] == "published"
    assert all(f.outcome is Outcome.TOLERATED for f in agentchaos.faults())
    if agentchaos.enabled:
        assert {f.target for f in agentchaos.faults()} == {
            "listing",
            "pricing",
            "inventory",
            "marketing",
        }
