"""Secrets kept out of the store: the command line is recorded with their values masked.

An option or ``key=value`` argument whose name looks like a secret (key, token, secret,
password, credential, auth) has its value replaced, in ``--name=value``, ``--name value`` and
``-o name=value`` forms; any text shaped like a common API key (OpenAI ``sk-…``, GitHub
``ghp_…``, Slack ``xox…``, AWS ``AKIA…``, Google ``AIza…``, ``Bearer …``) is masked wherever it
appears.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["MASK", "redact_args"]

MASK = "***"
_SECRET_NAME = re.compile(r"key|token|secret|passw|pwd|credential|auth", re.IGNORECASE)
_KEY_SHAPES = re.compile(
    r"\bsk-[A-Za-z0-9_\-]{16,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|\bAIza[0-9A-Za-z_\-]{30,}"
    r"|(?<=Bearer )[A-Za-z0-9._~+/\-]{16,}=*"
)
_NAME_VALUE = re.compile(r"^(-{0,2}[\w.\-]+)=(.*)$", re.DOTALL)


def redact_args(args: Sequence[str]) -> list[str]:
    """``args`` with every secret-looking value replaced by ``***``."""
    redacted: list[str] = []
    mask_next = False
    for arg in args:
        if mask_next and not arg.startswith("-"):
            redacted.append(MASK)
            mask_next = False
            continue
        mask_next = False
        match = _NAME_VALUE.match(arg)
        if match and _SECRET_NAME.search(match.group(1)):
            redacted.append(f"{match.group(1)}={MASK}")
            continue
        if arg.startswith("--") and "=" not in arg and _SECRET_NAME.search(arg):
            mask_next = True  # `--openai-key VALUE`: the value is the next argument
        redacted.append(_KEY_SHAPES.sub(MASK, arg))
    return redacted
