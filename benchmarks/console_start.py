"""Time from starting the console to the customer table showing its first rows.

Measures the whole path a person waits through: open the store (schema
check), resolve the agent, start the Textual app headless at 80x24, and wait
until the first page of the Customers segment and the segment counts are on
screen. Run against an existing store, or build one first:

    .venv/bin/python benchmarks/demo_build.py --customers 100000 --keep /tmp/bench-100k.db
    .venv/bin/python benchmarks/console_start.py --db sqlite:////tmp/bench-100k.db --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import time

from textual.widgets import Static

from agentdesk.app import AgentDeskApp
from agentdesk.config import load_settings
from agentdesk.db.store import Store
from agentdesk.services.agents.identity import resolve_actor
from agentdesk.ui.widgets.window_table import WindowTable


async def one_run(url: str) -> tuple[float, float]:
    started = time.perf_counter()
    store = Store(url)
    store.ensure_schema()
    actor = resolve_actor(store)
    app = AgentDeskApp(store, load_settings(url), actor)
    async with app.run_test(size=(80, 24)) as pilot:
        rows_at = counts_at = None
        while rows_at is None or counts_at is None:
            await pilot.pause(0.001)
            screen = app.screen
            if rows_at is None and screen.query("#customers") and screen.query_one("#customers", WindowTable).rows:
                rows_at = time.perf_counter()
            if (
                counts_at is None
                and screen.query("#segments")
                and "(" in screen.query_one("#segments", Static).render().plain
            ):
                counts_at = time.perf_counter()
    store.dispose()
    return rows_at - started, counts_at - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows, counts = [], []
    for _ in range(args.runs):
        r, c = asyncio.run(one_run(args.db))
        rows.append(r)
        counts.append(c)
    print(f"store                {args.db}")
    print(
        f"first rows drawn     median {statistics.median(rows) * 1000:.0f} ms, "
        f"max {max(rows) * 1000:.0f} ms ({args.runs} runs)"
    )
    print(f"segment counts shown median {statistics.median(counts) * 1000:.0f} ms, max {max(counts) * 1000:.0f} ms")
    imports = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import agentdesk.cli, agentdesk.app, agentdesk.ui.screens.customer_table"],
            check=True,
        )
        imports.append(time.perf_counter() - t)
    print(
        f"python start+imports median {statistics.median(imports) * 1000:.0f} ms "
        "(add to the above for a cold `agentdesk`)"
    )
    print(f"peak RSS             {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
