"""Settings an integration declares: environment variables, which are required, which are secret.

Values are read from the environment when needed and never stored on long-lived objects, so
they cannot leak through a repr or a pickle. A setting whose name looks like a credential
(TOKEN, KEY, SECRET, PASSWORD ...) is secret unless declared otherwise; secret values are
redacted from every error message and log event the runner produces (see _redact).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ._errors import UsageError

__all__ = ["Setting", "SettingsView", "as_settings"]

_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|PASS\b|AUTH|CREDENTIAL|COOKIE", re.I)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Setting:
    """One environment variable an integration reads.

    Args:
        name: the environment variable, e.g. ``"CLOUDFLARE_API_TOKEN"``.
        required: whether the integration is unconfigured without it.
        secret: whether its value must be redacted; None guesses from the name.
        default: the value used when the variable is unset or empty (optional settings).
        description: what it is for, shown by ``intgkit list`` and the panel.
    """

    name: str
    required: bool = True
    secret: bool | None = None
    default: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _ENV_NAME.match(self.name):
            raise UsageError(
                f"a setting name must be an environment variable name such as 'API_TOKEN' "
                f"(letters, digits, underscores), got {self.name!r}"
            )

    @property
    def is_secret(self) -> bool:
        """Whether the value is a credential to keep out of every output."""
        return self.secret if self.secret is not None else bool(_SECRET_NAME.search(self.name))

    def value(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The current value; an empty variable counts as unset."""
        raw = (os.environ if environ is None else environ).get(self.name)
        return raw if raw else self.default

    def __repr__(self) -> str:  # never a value, only the declaration
        return f"Setting({self.name!r}, required={self.required}, secret={self.is_secret})"


def as_settings(items: Iterable[str | Setting] | None) -> tuple[Setting, ...]:
    """Normalise a declaration (names or Setting objects) into Settings, refusing duplicates."""
    if items is None:
        return ()
    if isinstance(items, (str, Setting)):
        items = [items]
    out: list[Setting] = []
    seen: set[str] = set()
    for item in items:
        s = item if isinstance(item, Setting) else Setting(item) if isinstance(item, str) else None
        if s is None:
            raise UsageError(
                f"settings are environment variable names or intgkit.Setting objects, "
                f"got {type(item).__name__}"
            )
        if s.name in seen:
            raise UsageError(f"setting {s.name!r} is declared twice")
        seen.add(s.name)
        out.append(s)
    return tuple(out)


class SettingsView(Mapping[str, str]):
    """A read-only mapping of an integration's settings that are set, whose repr hides values."""

    __slots__ = ("_data",)

    def __init__(self, settings: Iterable[Setting], environ: Mapping[str, str] | None = None):
        data: dict[str, str] = {}
        for s in settings:
            v = s.value(environ)
            if v is not None:
                data[s.name] = v
        self._data = MappingProxyType(data)

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"SettingsView({{{', '.join(f'{k!r}: ***' for k in self._data)}}})"

    __str__ = __repr__


def missing_settings(settings: Iterable[Setting], environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of the required settings that are unset or empty."""
    return [s.name for s in settings if s.required and s.value(environ) is None]


def secret_values(settings: Iterable[Setting], environ: Mapping[str, str] | None = None) -> list[str]:
    """The current values of the secret settings, longest first (for redaction)."""
    vals = {v for s in settings if s.is_secret and (v := s.value(environ))}
    return sorted(vals, key=len, reverse=True)
