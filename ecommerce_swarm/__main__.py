"""``python -m ecommerce_swarm --scenario product_launch_campaign --products 20 --seed 7``.

Runs a scenario fault-free and prints what each agent did and whether the scenario's
steady-state checks hold (stdout, the same bytes for the same seed; exit status 1 when a check
fails, 2 for a bad scenario); a progress bar goes to a terminal's stderr while it runs.
``--json`` prints the final state instead. Faults run under pytest (examples/ecommerce).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ecommerce_swarm.scenario import ScenarioError, load_scenario, scenario_names
from ecommerce_swarm.steady_state import violations
from ecommerce_swarm.swarm import Swarm, SwarmResult


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ecommerce_swarm", description="Run an ecommerce_swarm scenario."
    )
    parser.add_argument(
        "--scenario",
        default="product_launch_campaign",
        help=f"a bundled scenario ({', '.join(scenario_names())}) or a YAML path",
    )
    parser.add_argument("--products", type=int, help="number of products, 1 to 100")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", default=":memory:", help="SQLite checkpoint database")
    parser.add_argument("--embedder", default="lexical", choices=("auto", "minilm", "lexical"))
    parser.add_argument("--json", action="store_true", help="print the final state as JSON")
    return parser


def _progress(done: int, total: int, node: str) -> None:
    width = 24
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {node:<10}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def render(result: SwarmResult, swarm: Swarm, problems: list[str]) -> str:
    params = swarm.scenario.parameters
    model = next(iter(swarm.agents.values())).model.name
    head = (
        f"scenario {result.scenario} · seed {result.seed} · "
        f"{len(result.state['raw_products'])} products ({params.category}, "
        f"{params.complexity}) · model {model}"
    )
    lines = [head, *result.log]
    for agreement in swarm.agreements.values():
        mapped = ", ".join(f"{a} = {b}" for a, b in agreement.mapping.items()) or "nothing"
        apart = ", ".join(agreement.kept_apart) or "nothing"
        alone = [t for t, v in agreement.verdicts.items() if v == "none"]
        lines.append(
            f"handshake  {agreement.sender} -> {agreement.receiver}: mapped {mapped}; "
            f"kept apart {apart}" + (f"; no counterpart for {', '.join(alone)}" if alone else "")
        )
    checks = swarm.scenario.steady_state
    if problems:
        lines += [f"steady     BROKEN {problem}" for problem in problems]
    else:
        lines.append(
            f"steady     {len(checks)} checks hold: {', '.join(checks) or 'none declared'}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
        if args.products is not None:
            scenario = scenario.with_volume(args.products)
    except ScenarioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with Swarm(scenario, seed=args.seed, db=args.db, embedder_kind=args.embedder) as swarm:
        total = len(scenario.parameters.workflow) + 2
        state = swarm.initial_state()
        updates = swarm.graph.stream(state, swarm.config("run"), stream_mode="updates")
        for done, update in enumerate(updates, start=1):
            if sys.stderr.isatty():
                _progress(done, total, next(iter(update)))
        final = swarm.graph.get_state(swarm.config("run")).values
        result = SwarmResult(scenario.name, args.seed, dict(final))
        problems = violations(result.state, scenario.steady_state)
        print(result.to_json() if args.json else render(result, swarm, problems))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
