"""``python -m pytest_agentchaos``: the ``agentchaos`` command line under an unambiguous name."""

from pytest_agentchaos.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
