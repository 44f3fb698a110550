"""Shared test set-up.

pytester's in-process runs restore ``sys.modules`` afterwards, dropping modules first imported
inside them; numpy (pulled in by sqlite-utils and scipy) refuses to be imported a second time in
one process. Importing them here, before any in-process run, keeps them loaded for good.

The same holds for the HTTP stack and vcrpy: reloaded by an in-process run, httpx2 no longer maps
the old httpcore2's errors (a raw ConnectError escapes the OpenAI SDK) and vcrpy's YAML writer
meets events of another yaml module ("expected SCALAR ...").

And for the package's lazily loaded names (``pytest_agentchaos.Message``, ``MessageBus``, ...):
if their modules were dropped after one in-process run and imported again by the next, a class
held from the first import and the re-imported one would differ (``isinstance`` fails). Loading
them here keeps one copy for the whole session.
"""

import httpcore2  # noqa: F401
import httpx2  # noqa: F401
import numpy  # noqa: F401
import openai  # noqa: F401
import scipy.stats  # noqa: F401
import sqlite_utils  # noqa: F401
import vcr
import vcr.serializers.yamlserializer  # noqa: F401

import pytest_agentchaos
import pytest_agentchaos.bus
import pytest_agentchaos.protocol

for _name in pytest_agentchaos._LAZY:
    getattr(pytest_agentchaos, _name)
