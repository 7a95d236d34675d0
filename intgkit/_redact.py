"""Keep secret setting values out of text that leaves the runner.

The rule: a secret value of at least MIN_SECRET_LEN characters is replaced by ``***``
wherever it appears as a substring. Shorter values are not replaced by substring, because
redacting e.g. a 3-character value would garble ordinary words in error messages; they are
still never logged or shown by intgkit itself, and a text equal to one is replaced whole.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_SECRET_LEN = 6
MASK = "***"


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret (longest first) in ``text`` by the mask."""
    if not secrets or not text:
        return text
    for s in secrets:
        if len(s) >= MIN_SECRET_LEN:
            if s in text:
                text = text.replace(s, MASK)
        elif text == s:
            return MASK
    return text
