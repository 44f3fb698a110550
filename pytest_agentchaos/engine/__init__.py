"""The chaos run: call steps, injection (``agent()``, ``wrap()``), hookspecs and the
strategy registry. Never imports pytest, so the CLI and experiments drive it too."""
