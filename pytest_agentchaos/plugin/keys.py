"""What the hooks and the fixtures share: stash keys for the session and each test's run.

Types only under TYPE_CHECKING: the engine loads with the first chaos test, not at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_agentchaos.engine.run import ChaosRun
    from pytest_agentchaos.session import ChaosSession

SESSION_KEY: pytest.StashKey[ChaosSession] = pytest.StashKey()
#: This test's run, from the start of its setup until its run is written.
RUN_KEY: pytest.StashKey[ChaosRun] = pytest.StashKey()
REPETITION_FIXTURE = "_agentchaos_repetition"
CONFIG_FIXTURE = "agentchaos_config"
