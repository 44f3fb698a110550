"""ecommerce_swarm scenarios: the four bundled files load, and every mistake in a file is an
error naming the file, the line and the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ecommerce_swarm import ScenarioError, load_scenario, scenario_names
from pytest_agentchaos.config.scenario import load_scenario as plugin_load_scenario

BUNDLED = [
    "customer_feedback_loop",
    "inventory_crisis",
    "product_launch_campaign",
    "vendor_onboarding",
]

GOOD = """\
name: tiny
parameters:
  category: home
  volume: 3
  workflow: [listing, pricing]
  failure_points: [pricing]
faults:
  - {kind: crash, target: pricing, at_call: 1}
steady_state: [prices_within_bounds]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_four_scenarios_are_bundled_and_valid():
    assert scenario_names() == BUNDLED
    for name in BUNDLED:
        scenario = load_scenario(name)
        assert scenario.name == name
        assert 1 <= scenario.parameters.volume <= 100
        assert scenario.faults, f"{name} declares no faults"
        assert scenario.steady_state, f"{name} declares no steady-state checks"


def test_the_plugin_reads_the_same_files_faults():
    for name in BUNDLED:
        ours = load_scenario(name)
        theirs = plugin_load_scenario(ours.path)
        assert theirs.faults == ours.faults


def test_a_good_file_loads(tmp_path):
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.parameters.workflow == ("listing", "pricing")
    assert [f.kind for f in scenario.faults] == ["crash"]


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "says"),
    [
        ("  volume: 3\n", "  volume: 3\n  colour: red\n", 5, "parameters.colour", "unknown key"),
        ("steady_state:", "extra: 1\nsteady_state:", 9, "extra", "unknown key"),
        ("  volume: 3\n", "  volume: '3'\n", 4, "parameters.volume", "valid integer"),
        ("  volume: 3\n", "  volume: 0\n", 4, "parameters.volume", "greater than or equal to 1"),
        ("  volume: 3\n", "  volume: 10000\n", 4, "parameters.volume", "less than or equal to 100"),
        (
            "[pricing]\nfaults",
            "[pricing, checkout]\nfaults",
            6,
            "parameters.failure_points",
            "unknown failure point 'checkout'",
        ),
        ("category: home", "category: garden", 3, "parameters.category", "unknown category"),
        ("[listing, pricing]", "[marketing]", 5, "parameters.workflow", "marketing needs"),
        ("at_call: 1}", "at_call: 0}", 8, "faults[0]", "at_call"),
        (
            "target: pricing,",
            "target: listing,",
            8,
            "faults[0].target",
            "not a declared failure point",
        ),
        ("[prices_within_bounds]", "[vibes]", 9, "steady_state[0]", "prices_within_bounds"),
    ],
)
def test_a_mistake_names_file_line_and_key(tmp_path, old, new, line, key, says):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: {key}: "), message
    assert says in message


def test_unknown_scenario_lists_the_bundled_ones():
    with pytest.raises(ScenarioError, match="bundled: customer_feedback_loop, inventory_crisis"):
        load_scenario("black_friday")


def test_volume_override_is_checked():
    scenario = load_scenario("vendor_onboarding")
    assert scenario.with_volume(100).parameters.volume == 100
    with pytest.raises(ScenarioError, match="volume 10000"):
        scenario.with_volume(10000)


PUBLIC_PATHS = {
    "pytest_agentchaos",
    "pytest_agentchaos.bus",
    "pytest_agentchaos.protocol",
    "pytest_agentchaos.semantic",
    "pytest_agentchaos.integrations.openai",
    "pytest_agentchaos.integrations.langgraph",
}


def test_the_swarm_uses_only_the_plugins_public_api():
    import ast

    package = Path(__file__).resolve().parent.parent / "ecommerce_swarm"
    used: dict[str, str] = {}
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "pytest_agentchaos"
            ):
                used[node.module or ""] = source.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("pytest_agentchaos"):
                        used[alias.name] = source.name
    assert used, "the swarm should use the plugin"
    private = {module: where for module, where in used.items() if module not in PUBLIC_PATHS}
    assert not private, f"private plugin modules imported: {private}"
