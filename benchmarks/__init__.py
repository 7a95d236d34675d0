"""intgkit benchmarks: `python -m benchmarks` (not part of the test suite; see docs/performance.md)."""
