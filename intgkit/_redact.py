"""Keep secret setting values out of text that leaves the runner.

The rule: a secret value of at least MIN_SECRET_LEN characters is replaced by ``***``
wherever it appears as a substring. Shorter values are not replaced by substring, because
redacting e.g. a 3-character value would garble ordinary words in error messages; they are
still never logged or shown by intgkit itself, and a text equal to one is replaced whole.

The rule is applied to everything an integration's call sends out of the engine: error
messages (describe_exception) and the string cells of its sections (redact_sections).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._models import IntegrationSection

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


# -- what leaves the engine: exception messages and section cells -------------------------------

#: An error message is one line of at most this many characters.
MAX_ERROR_LEN = 2000


def describe_exception(exc: BaseException, secrets: Sequence[str] = ()) -> str:
    """An exception as one secret-free line of at most MAX_ERROR_LEN characters."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - an exception whose __str__ raises
        text = f"<{type(exc).__name__} whose message could not be rendered>"
    # redact before the cut: a token straddling it would otherwise leave its first part behind
    text = " ".join(redact(text, secrets).split()) or type(exc).__name__
    return text if len(text) <= MAX_ERROR_LEN else text[: MAX_ERROR_LEN - 1] + "…"


def redact_sections(
    sections: tuple[IntegrationSection, ...], secrets: Sequence[str]
) -> tuple[IntegrationSection, ...]:
    """Replace secret values inside string cells (only runs when an integration has secrets)."""
    out = []
    for s in sections:
        if not hasattr(s.rows, "columns"):  # rows as a sequence of mappings (tuple or list)
            rows = tuple({k: redact_cell(v, secrets) for k, v in row.items()} for row in s.rows)
            out.append(IntegrationSection(s.name, rows, s.summary))
        else:
            frame = s.rows.copy()
            for col in frame.columns:
                # "str" is pandas 3's default text dtype, "string[...]" the opt-in one
                if frame[col].dtype == object or str(frame[col].dtype).startswith("str"):
                    frame[col] = frame[col].map(lambda v: redact_cell(v, secrets))
            out.append(IntegrationSection(s.name, frame, s.summary))
    return tuple(out)


def redact_cell(value: Any, secrets: Sequence[str]) -> Any:
    """A cell with secrets masked, inside nested mappings and lists too (headers, raw responses)."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: redact_cell(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_cell(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_cell(v, secrets) for v in value)
    return value
