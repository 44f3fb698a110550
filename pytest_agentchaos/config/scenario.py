"""YAML scenarios: a named set of faults (and settings) shared by several tests.

```yaml
name: pricing outage
description: pricing crashes once, marketing gets a wrong price
faults:
  - {kind: crash, target: pricing, at_call: 1}
  - {kind: hallucination, target: pricing, field: price, probability: 0.5}
settings: {strategy: retry}
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_agentchaos.config.settings import check_test_settings
from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.model.faults import FaultSpec, parse_fault

# ``parameters`` and ``steady_state`` belong to the system under test (ecommerce_swarm's
# scenarios use them, validated by its own loader); the plugin reads only the faults.
_TOP_KEYS = ("name", "description", "faults", "settings", "parameters", "steady_state")


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    faults: tuple[FaultSpec, ...]
    settings: dict[str, Any]


def find_scenario(name_or_path: str, search_dirs: list[Path]) -> Path:
    """The scenario file for a name (``outage`` -> ``outage.yaml``) or a relative path."""
    candidate = Path(name_or_path)
    names = (
        [candidate]
        if candidate.suffix in (".yaml", ".yml")
        else [candidate.with_suffix(".yaml"), candidate.with_suffix(".yml")]
    )
    tried: list[str] = []
    for directory in search_dirs:
        for base in (directory, directory / "scenarios"):
            for name in names:
                path = name if name.is_absolute() else base / name
                if path.is_file():
                    return path
                tried.append(str(path))
    raise ChaosConfigError(
        f"scenario {name_or_path!r} not found; looked for: {', '.join(dict.fromkeys(tried))}"
    )


def load_scenario(path: Path) -> Scenario:
    """Parse and validate one scenario file."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ChaosConfigError(f"scenario {path}: not valid YAML: {error}") from None
    except UnicodeDecodeError as error:
        raise ChaosConfigError(
            f"scenario {path}: not UTF-8 text: byte {error.object[error.start]:#04x} "
            f"at position {error.start}; save the file as UTF-8"
        ) from None
    except OSError as error:
        raise ChaosConfigError(f"scenario {path}: cannot be read: {error.strerror}") from None
    if not isinstance(data, dict):
        raise ChaosConfigError(
            f"scenario {path}: must be a mapping with keys {', '.join(_TOP_KEYS)}"
        )
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise ChaosConfigError(
            f"scenario {path}: unknown key {unknown[0]!r}; allowed: {', '.join(_TOP_KEYS)}"
        )
    raw_faults = data.get("faults") or []
    if not isinstance(raw_faults, list):
        raise ChaosConfigError(f"scenario {path}: 'faults' must be a list of mappings")
    faults = []
    for number, item in enumerate(raw_faults, start=1):
        if not isinstance(item, dict) or "kind" not in item:
            raise ChaosConfigError(
                f"scenario {path}: fault #{number} must be a mapping with a 'kind'"
            )
        arguments = {k: v for k, v in item.items() if k != "kind"}
        try:
            faults.append(parse_fault(str(item["kind"]), arguments))
        except ChaosConfigError as error:
            raise ChaosConfigError(f"scenario {path}: fault #{number}: {error}") from None
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        raise ChaosConfigError(f"scenario {path}: 'settings' must be a mapping")
    return Scenario(
        name=str(data.get("name") or path.stem),
        path=path,
        faults=tuple(faults),
        settings=check_test_settings(settings, f"scenario {path} settings"),
    )
