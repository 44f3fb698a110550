"""Shared test set-up.

pytester's in-process runs restore ``sys.modules`` afterwards, dropping modules first imported
inside them; numpy (pulled in by sqlite-utils and scipy) refuses to be imported a second time in
one process. Importing them here, before any in-process run, keeps them loaded for good.

The package's lazily loaded names (``pytest_agentchaos.Message``, ``MessageBus``, ...) are cached
in the package on first use: if their modules were dropped after one in-process run and imported
again by the next, the cached class and the re-imported one would differ (``isinstance`` fails).
Loading them here keeps one copy for the whole session.
"""

import numpy  # noqa: F401
import scipy.stats  # noqa: F401
import sqlite_utils  # noqa: F401

import pytest_agentchaos
import pytest_agentchaos.bus
import pytest_agentchaos.protocol

for _name in pytest_agentchaos._LAZY:
    getattr(pytest_agentchaos, _name)
