"""Export a whole segment to CSV: time, rows per second and peak memory.

.venv/bin/python benchmarks/export_csv.py --db sqlite:////tmp/bench-1m.db [--segment all] [--preset]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from agentdesk.db.store import Store
from agentdesk.services.agents.identity import resolve_actor
from agentdesk.services.customers.export import CONTACTS_PRESET, export_customers
from agentdesk.services.customers.filters import CustomerQuery, Segment


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--segment", default="all", choices=[s.value for s in Segment])
    parser.add_argument("--preset", action="store_true", help="the contact preset (more look-ups per page)")
    args = parser.parse_args()
    store = Store(args.db)
    store.ensure_schema()
    actor = resolve_actor(store)
    out = Path(tempfile.mkdtemp()) / "export.csv"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    columns = (
        CONTACTS_PRESET if args.preset else ["id", "name", "email", "phone", "country", "payments", "ltv", "created"]
    )
    result = export_customers(store, actor, CustomerQuery(Segment(args.segment)), out, columns)
    elapsed = time.perf_counter() - started
    print(f"rows          {result.rows:,} ({'contact preset' if args.preset else 'table columns'})")
    print(f"time          {elapsed:.1f} s  ({result.rows / elapsed:,.0f} rows/s)")
    print(f"file          {out.stat().st_size / 2**20:,.0f} MiB")
    print(
        f"peak RSS      {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
        f"(before the export: {rss_before:.0f} MiB)"
    )
    out.unlink()


if __name__ == "__main__":
    main()
