"""Scenarios as YAML, validated strictly: a mistake names the file, the line and the key.

A scenario is a chaos experiment over the swarm: the system's parameters, the faults it may
declare (the plugin's fault syntax, loaded by ``@pytest.mark.chaos_scenario`` too) and the
steady-state checks that must hold after the run::

    name: product_launch_campaign
    parameters: {category: electronics, volume: 20, complexity: medium,
                 workflow: [listing, pricing, inventory, marketing, analytics],
                 failure_points: [pricing, pricing.llm, lead->pricing]}
    faults:
      - {kind: hallucination, target: pricing.llm, field: price, probability: 0.2}
    steady_state: [valid_products_published, prices_within_bounds]
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ecommerce_swarm.agents import AGENT_TYPES
from ecommerce_swarm.ontology import CATEGORIES, HANDSHAKES
from pytest_agentchaos import ChaosConfigError, FaultSpec, parse_fault

SCENARIO_DIR = Path(__file__).parent / "scenarios"
AGENTS = tuple(AGENT_TYPES)
NODES = ("intake", *AGENTS, "publish")

#: What each agent needs to have run before it.
PREREQUISITES: dict[str, tuple[str, ...]] = {
    "listing": (),
    "pricing": (),
    "inventory": (),
    "marketing": ("listing", "pricing", "inventory"),
    "feedback": ("listing",),
    "analytics": ("pricing", "inventory"),
}

SteadyCheck = Literal[
    "valid_products_published",
    "invalid_products_rejected",
    "prices_within_bounds",
    "stock_never_negative",
    "campaigns_match_prices",
    "report_totals_match",
]


def failure_points() -> tuple[str, ...]:
    """Every place a scenario may name: workflow nodes, model clients and bus links."""
    links = [f"lead->{a}" for a in AGENTS] + [f"{a}->lead" for a in AGENTS]
    for receiver, sender in HANDSHAKES.items():
        links += [f"{sender}->{receiver}", f"{receiver}->{sender}"]
    return (*NODES, *(f"{a}.llm" for a in AGENTS), *links)


class ScenarioError(ChaosConfigError):
    """A scenario file is wrong; the message names the file, the line and the key."""


class Parameters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # strict: YAML's "20" (a string) is a wrong type, not a number to guess at.
    category: str = Field(strict=True)
    volume: int = Field(ge=1, le=100, strict=True)
    complexity: Literal["low", "medium", "high"] = "medium"
    workflow: tuple[str, ...] = Field(min_length=1)
    stock_level: Literal["normal", "scarce"] = "normal"
    demand: int = Field(default=2, ge=0, le=1000, strict=True)
    failure_points: tuple[str, ...] = ()

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"unknown category {value!r}; known: {', '.join(CATEGORIES)}")
        return value

    @field_validator("workflow")
    @classmethod
    def _valid_workflow(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for position, name in enumerate(value):
            if name not in AGENT_TYPES:
                raise ValueError(f"unknown agent {name!r}; agents: {', '.join(AGENTS)}")
            missing = [p for p in PREREQUISITES[name] if p not in value[:position]]
            if missing:
                raise ValueError(f"{name} needs {', '.join(missing)} to run before it")
        return value

    @field_validator("failure_points")
    @classmethod
    def _known_points(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = failure_points()
        for point in value:
            if point not in known:
                raise ValueError(f"unknown failure point {point!r}; known: {', '.join(known)}")
        return value


class _File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(strict=True)
    description: str = Field(default="", strict=True)
    parameters: Parameters
    faults: tuple[dict[str, Any], ...] = ()
    steady_state: tuple[SteadyCheck, ...] = ()
    settings: dict[str, Any] = Field(default_factory=dict)


class Scenario(BaseModel):
    """A loaded scenario: its parameters, faults and steady-state checks."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    path: Path
    description: str
    parameters: Parameters
    faults: tuple[FaultSpec, ...]
    steady_state: tuple[SteadyCheck, ...]

    def with_volume(self, volume: int) -> Scenario:
        """The same scenario with another number of products (1 to 100)."""
        data = self.parameters.model_dump()
        data["volume"] = volume
        try:
            parameters = Parameters.model_validate(data)
        except ValidationError as error:
            raise ScenarioError(f"volume {volume}: {error.errors()[0]['msg']}") from None
        return self.model_copy(update={"parameters": parameters})


def scenario_names() -> list[str]:
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.yaml"))


def scenario_path(name_or_path: str | Path) -> Path:
    """The YAML file of a bundled scenario name, or the path given."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    bundled = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not bundled.is_file():
        raise ScenarioError(
            f"unknown scenario {str(name_or_path)!r}; bundled: {', '.join(scenario_names())}"
        )
    return bundled


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario by bundled name or path."""
    import yaml

    path = scenario_path(name_or_path)
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}:1: a scenario is a mapping (name, parameters, faults, ...)")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise _located(path, root, first["loc"], _message(first)) from None
    faults = tuple(
        _fault(path, root, number, item, parsed.parameters.failure_points)
        for number, item in enumerate(parsed.faults)
    )
    return Scenario(
        name=parsed.name,
        path=path,
        description=parsed.description,
        parameters=parsed.parameters,
        faults=faults,
        steady_state=parsed.steady_state,
    )


def _fault(
    path: Path, root: Any, number: int, item: dict[str, Any], points: Sequence[str]
) -> FaultSpec:
    where = ("faults", number)
    arguments = {key: value for key, value in item.items() if key != "kind"}
    try:
        spec = parse_fault(str(item.get("kind")), arguments)
    except ChaosConfigError as error:
        raise _located(path, root, where, str(error)) from None
    target = getattr(spec, "target", None)
    if target is None:
        target = f"{getattr(spec, 'sender', '*')}->{getattr(spec, 'receiver', '*')}"
    if not any(fnmatch.fnmatchcase(point, target) for point in points):
        raise _located(
            path,
            root,
            (*where, "target"),
            f"fault target {target!r} is not a declared failure point "
            f"(parameters.failure_points: {', '.join(points) or 'none'})",
        )
    return spec


def _message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "missing key"
    return f"{message} (got {error.get('input')!r})"


def _located(path: Path, root: Any, loc: Sequence[Any], message: str) -> ScenarioError:
    """An error at the deepest node of ``loc`` that exists in the YAML, with its line."""
    node, line, key = root, 1, ""
    for part in loc:
        found = _child(node, part)
        if found is None:
            break
        node, line = found
        key = (
            f"{key}.{part}"
            if key and isinstance(part, str)
            else (f"{key}[{part}]" if isinstance(part, int) else str(part))
        )
    return ScenarioError(f"{path}:{line}: {key or 'scenario'}: {message}")


def _child(node: Any, part: Any) -> tuple[Any, int] | None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                return value_node, key_node.start_mark.line + 1
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item = node.value[part]
        return item, item.start_mark.line + 1
    return None
