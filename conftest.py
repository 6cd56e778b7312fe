"""Loads the suite's test fixtures (a real PostgreSQL and Kafka-protocol broker) for every test,
and puts the slowest files first."""

from __future__ import annotations

import pytest

pytest_plugins = ["shared.testing.fixtures"]

#: the files that take longest (each starts a whole suite, or installs the AsyncAPI tools), longest
#: first: `--dist loadfile` hands files to the workers in collection order, two each to begin with,
#: so these start at once on separate workers instead of one of them starting last and running
#: alone at the end (a fresh-clone run saw the bench smoke start at 92 %)
SLOWEST_FIRST = (
    "tests/test_chaos_smoke.py",
    "tests/test_fuzz_smoke.py",
    "tests/test_bench_smoke.py",
    "tests/e2e/test_e2e_flows.py",
    "tests/test_suite_launch.py",
    "tests/e2e/test_e2e_live_psps.py",
    "tests/test_asyncapi_official_tools.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {path: n for n, path in enumerate(SLOWEST_FIRST)}

    def slowness(item: pytest.Item) -> int:
        try:
            path = item.path.relative_to(config.rootpath).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(path, len(rank))

    items.sort(key=slowness)  # stable: every other file keeps its place, each file its order
