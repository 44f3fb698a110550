"""Shared test set-up.

pytester's in-process runs restore ``sys.modules`` afterwards, dropping modules first imported
inside them; numpy (pulled in by sqlite-utils and scipy) refuses to be imported a second time in
one process. Importing them here, before any in-process run, keeps them loaded for good.
"""

import numpy  # noqa: F401
import scipy.stats  # noqa: F401
import sqlite_utils  # noqa: F401
