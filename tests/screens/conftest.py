"""Fixtures of the console tests: a demo store sized and seeded by the module's `DEMO = (customers, seed)`."""

from __future__ import annotations

import pytest

from agentdesk.demo import builder as demo

DEFAULT_DEMO = (300, 2)


@pytest.fixture
def demo_store(sqlite_store, request):
    customers, seed = getattr(request.module, "DEMO", DEFAULT_DEMO)
    demo.build_demo(sqlite_store, customers, seed=seed, login="operator")
    return sqlite_store
