"""What the plugin costs a suite that does not use it: ``pytest --co -q`` of 500 tests.

Generates a 500-test suite (50 modules of 10 plain tests) in a temporary folder, then times
``pytest --co -q`` with the plugin installed but no ``--chaos`` against ``-p no:agentchaos``,
alternating the two so that machine load hits both alike, and prints medians and the ratio.
Target: within 1.1x.

    python bench/startup.py [--repeat 9] [--modules 50] [--tests 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Other installed plugins are not what is measured; both variants run without them.
COMMON = ["-p", "no:cacheprovider", "-p", "no:langsmith_plugin", "--co", "-q"]


def make_suite(root: Path, modules: int, tests: int) -> None:
    for module in range(modules):
        body = "\n\n".join(
            f"def test_{module}_{number}():\n    assert {number} + 1 == {number + 1}"
            for number in range(tests)
        )
        (root / f"test_m{module:03}.py").write_text(body + "\n")
    (root / "pytest.ini").write_text("[pytest]\n")


def time_once(root: Path, extra: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", *COMMON, *extra],
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--modules", type=int, default=50)
    parser.add_argument("--tests", type=int, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_suite(root, options.modules, options.tests)
        variants = {"plugin, no --chaos": [], "-p no:agentchaos": []}
        extras = {"plugin, no --chaos": [], "-p no:agentchaos": ["-p", "no:agentchaos"]}
        time_once(root, [])  # warm the file system and the bytecode caches
        for _ in range(options.repeat):
            for name, times in variants.items():
                times.append(time_once(root, extras[name]))
    count = options.modules * options.tests
    print(f"pytest --co -q of {count} tests, median of {options.repeat} runs (wall time)")
    medians = {name: statistics.median(times) for name, times in variants.items()}
    for name, median in medians.items():
        spread = f"min {min(variants[name]):.3f} s, max {max(variants[name]):.3f} s"
        print(f"  {name:<20} {median:.3f} s   ({spread})")
    ratio = medians["plugin, no --chaos"] / medians["-p no:agentchaos"]
    print(f"  ratio                {ratio:.3f}x   (target <= 1.1x)")


if __name__ == "__main__":
    main()
