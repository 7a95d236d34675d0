"""The registry: register, get, names, configured(), partial-configuration warnings, plugins."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import intgkit
from intgkit import Setting


class Thing:
    """A protocol-satisfying integration written as a class."""

    name = "thing"
    title = "A Thing"
    settings = ("THING_TOKEN",)

    def is_configured(self) -> bool:
        return True

    async def fetch(self, target: str | None) -> dict[str, list[dict[str, object]]]:
        return {"things": [{"target": target}]}


def test_register_get_names(registry: intgkit.IntegrationRegistry) -> None:
    """register() returns the name; get() and names() find it; unregister() removes it."""
    obj = Thing()
    assert registry.register(obj) == "thing"
    assert registry.get("thing") is obj and registry.names() == ["thing"] and "thing" in registry
    assert registry.unregister("thing") is obj and registry.names() == []


def test_decorator_registers_in_the_default_registry() -> None:
    """@integration registers in the default registry, with a title derived from the name."""

    @intgkit.integration
    async def my_check(target):  # type: ignore[no-untyped-def]
        return {}

    assert intgkit.default_registry().get("my_check") is my_check
    assert my_check.title == "My Check"


def test_registry_as_class_decorator(registry: intgkit.IntegrationRegistry) -> None:
    """A registry decorates an integration class (instantiating it)."""
    registry(Thing)
    assert isinstance(registry.get("thing"), Thing)


def test_duplicate_names_are_refused_with_both_named(registry: intgkit.IntegrationRegistry) -> None:
    """A second, different integration under a taken name is refused; both appear in the message."""

    @intgkit.integration(name="dup", registry=registry)
    async def first(target):  # type: ignore[no-untyped-def]
        return {}

    with pytest.raises(intgkit.DuplicateIntegrationError, match=r"first.*second") as info:

        @intgkit.integration(name="dup", registry=registry)
        async def second(target):  # type: ignore[no-untyped-def]
            return {}

    assert info.value.existing is first and registry.get("dup") is first


def test_rerunning_a_notebook_cell_redefines(registry: intgkit.IntegrationRegistry) -> None:
    """The same function defined again in __main__ (a cell run twice) replaces the first."""
    ns: dict[str, object] = {"__name__": "__main__", "intgkit": intgkit, "registry": registry}
    cell = textwrap.dedent(
        """
        @intgkit.integration(name="cell", registry=registry)
        async def cell(target):
            return {}
        """
    )
    exec(cell, ns)
    first = registry.get("cell")
    exec(cell, ns)
    assert registry.get("cell") is not first and registry.get("cell") is ns["cell"]


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        (object(), "lacks name, title, settings, is_configured, fetch"),
        (type("N", (Thing,), {"name": "Bad-Name"})(), "snake_case"),
        (type("S", (Thing,), {"settings": ("not a var",)})(), "environment variable name"),
        (type("S2", (Thing,), {"settings": (3,)})(), "Setting objects"),
    ],
)
def test_incomplete_objects_are_refused(
    registry: intgkit.IntegrationRegistry, obj: object, needle: str
) -> None:
    """Objects that do not satisfy the protocol are refused with what is missing."""
    with pytest.raises(intgkit.UsageError, match=needle):
        registry.register(obj)


def test_unknown_name_suggests(registry: intgkit.IntegrationRegistry) -> None:
    """get() of an unknown name suggests close matches."""
    registry.register(Thing())
    with pytest.raises(intgkit.UnknownIntegrationError, match="Did you mean 'thing'") as info:
        registry.get("thimg")
    assert info.value.suggestions == ["thing"]


def test_configured_filters_and_warns_about_partial(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch, logs: list[dict[str, object]]
) -> None:
    """configured() keeps configured ones; a partly configured one warns naming only missing names."""
    monkeypatch.setenv("PART_USER", "alice-the-user")
    monkeypatch.delenv("PART_PASSWORD", raising=False)

    @intgkit.integration(registry=registry, settings=["PART_USER", "PART_PASSWORD"])
    async def part(target):  # type: ignore[no-untyped-def]
        return {}

    @intgkit.integration(registry=registry, settings=[Setting("OPTIONAL_X", required=False)])
    async def free(target):  # type: ignore[no-untyped-def]
        return {}

    assert [i.name for i in registry.configured()] == ["free"]
    warnings = [e for e in logs if e["event"] == "integration_partly_configured"]
    assert len(warnings) == 1 and warnings[0]["missing_settings"] == ["PART_PASSWORD"]
    assert warnings[0]["log_level"] == "warning"
    assert "alice-the-user" not in repr(logs)
    assert registry.missing("part") == ["PART_PASSWORD"]


def test_partial_warning_prints_to_stderr_without_values(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With structlog unconfigured, the warning goes to stderr and names no value."""
    monkeypatch.setenv("P2_USER", "bob-value-123")

    @intgkit.integration(registry=registry, settings=["P2_USER", "P2_KEY"])
    async def p2(target):  # type: ignore[no-untyped-def]
        return {}

    registry.configured()
    out, err = capsys.readouterr()
    assert out == "" and "P2_KEY" in err and "bob-value-123" not in err


def test_settings_view_hides_values(
    monkeypatch: pytest.MonkeyPatch, registry: intgkit.IntegrationRegistry
) -> None:
    """The settings mapping passed to a function is read-only and its repr shows no values."""
    monkeypatch.setenv("VIEW_TOKEN", "value-that-is-secret")
    seen: dict[str, object] = {}

    @intgkit.integration(registry=registry, settings=["VIEW_TOKEN"])
    def view(target, settings):  # type: ignore[no-untyped-def]
        seen["repr"] = repr(settings)
        seen["value"] = settings["VIEW_TOKEN"]
        with pytest.raises(TypeError):
            settings["VIEW_TOKEN"] = "x"
        return {}

    assert intgkit.IntegrationRunner(registry).run(["view"])[0].ok
    assert seen["value"] == "value-that-is-secret" and "value-that-is-secret" not in str(seen["repr"])
    assert "***" in str(seen["repr"])


def test_setting_secret_detection() -> None:
    """Credential-looking names are secret unless declared otherwise."""
    assert Setting("CLOUDFLARE_API_TOKEN").is_secret and Setting("DB_PASSWORD").is_secret
    assert not Setting("DNS_NAMESERVER").is_secret
    assert not Setting("API_KEY", secret=False).is_secret


def test_function_arity_is_checked(registry: intgkit.IntegrationRegistry) -> None:
    """A function requiring more than (target, settings) is refused at decoration time."""
    with pytest.raises(intgkit.UsageError, match="requires 3 arguments"):

        @intgkit.integration(registry=registry)
        def three(a, b, c):  # type: ignore[no-untyped-def]
            return {}


# -- entry points, through a real installed distribution -------------------------------------------


def _install_plugin(site: Path, *, broken: bool = False) -> None:
    """Write a real package and its .dist-info (METADATA, entry_points.txt) into ``site``."""
    pkg = site / "acme_intg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            class Acme:
                name = "acme"
                title = "ACME status"
                settings = ()
                def is_configured(self):
                    return True
                async def fetch(self, target):
                    return {"status": [{"target": target, "up": True}]}

            acme = Acme()

            def many():
                class Other(Acme):
                    name = "acme_other"
                return [Other()]
            """
        )
    )
    dist = site / "acme_intg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-intg\nVersion: 1.0\n")
    lines = ["[intgkit.integrations]", "acme = acme_intg:acme", "acme_many = acme_intg:many"]
    if broken:
        lines.append("broken = acme_intg:does_not_exist")
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")


def test_entry_point_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Integrations advertised by an installed distribution load through the entry-point group."""
    _install_plugin(tmp_path, broken=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = intgkit.IntegrationRegistry()
    count = reg.load_entrypoints()  # the built-in integrations arrive the same way
    assert {"acme", "acme_other"} <= set(reg.names()) and count == len(reg.names())
    assert "broken" in reg.load_errors and "does_not_exist" in reg.load_errors["broken"]
    results = intgkit.IntegrationRunner(reg).run(["acme"], targets=["x"])
    assert results[0].ok


def test_default_registry_autoloads_plugins_in_a_fresh_process(tmp_path: Path) -> None:
    """In a fresh interpreter the default registry lists a plugin without any explicit call."""
    _install_plugin(tmp_path)
    code = "import intgkit; print(sorted(intgkit.default_registry().names()))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert "'acme'" in out.stdout and "'acme_other'" in out.stdout
