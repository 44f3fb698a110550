"""Shared test set-up.

pytester's in-process runs restore ``sys.modules`` afterwards, dropping modules first imported
inside them; numpy (pulled in by sqlite-utils and scipy) refuses to be imported a second time in
one process. Importing them here, before any in-process run, keeps them loaded for good.
The same holds for the HTTP stack and vcrpy: reloaded by an in-process run, httpx2 no longer maps
the old httpcore2's errors (a raw ConnectError escapes the OpenAI SDK) and vcrpy's YAML writer
meets events of another yaml module ("expected SCALAR ...").
"""

import httpcore2  # noqa: F401
import httpx2  # noqa: F401
import numpy  # noqa: F401
import openai  # noqa: F401
import scipy.stats  # noqa: F401
import sqlite_utils  # noqa: F401
import vcr
import vcr.serializers.yamlserializer  # noqa: F401
