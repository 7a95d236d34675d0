"""run(progress=True): a tqdm bar that counts results and how many failed."""

from __future__ import annotations

import io

import pytest

import intgkit


def test_progress_bar_counts_results(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar ends at the number of calls, with the failures in its postfix."""
    stream = io.StringIO()
    from tqdm.std import tqdm

    bars: list[tqdm] = []

    def make(**kwargs: object) -> tqdm:
        bar = tqdm(file=stream, **kwargs)  # type: ignore[call-overload]
        bars.append(bar)
        return bar

    monkeypatch.setattr("tqdm.auto.tqdm", make)

    @intgkit.integration(name="half", registry=registry)
    def _half(target: str | None) -> dict[str, list[dict[str, object]]]:
        if target == "bad":
            raise ValueError("no")
        return {}

    results = intgkit.IntegrationRunner(registry).run(targets=["a", "b", "bad"], progress=True)
    assert len(results) == 3
    (bar,) = bars
    assert (bar.n, bar.total) == (3, 3)
    assert "3/3" in stream.getvalue()
    assert "failed=1" in stream.getvalue()
