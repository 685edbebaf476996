"""Time `agentdesk demo` at a given size: prints seconds, rows, database size, bytes written and load.

.venv/bin/python benchmarks/demo_build.py --customers 100000 [--db URL] [--keep PATH] [--key-file PATH]

"written" is the write_bytes of this process (/proc/self/io) and of the writer process (its rusage):
SQLite's file writes. PostgreSQL's writes are the server's: for it the WAL the cluster wrote during the
build (pg_stat_wal) and the database's size. The load average is the machine's, before and after: the
build is two busy Python processes (layout, writer), so a machine shared with other work slows it.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from agentdesk.db.store import Store
from agentdesk.demo.builder import build_demo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--keep", help="SQLite file to build into and keep (must not exist)")
    parser.add_argument("--key-file", type=Path, help="the store's service key (default: beside an SQLite file, "
                        "else the data directory's)")
    args = parser.parse_args()
    tmp = None
    if args.db:
        url = args.db
    else:
        path = Path(args.keep) if args.keep else Path(tempfile.mkdtemp()) / "bench.db"
        tmp = path
        url = f"sqlite:///{path}"
    store = Store(url, key_file=args.key_file)
    store.upgrade()
    wal_before = _wal_bytes(store)
    load_before = os.getloadavg()
    written_before = _written()
    cpu_before = time.process_time()
    started = time.perf_counter()
    last = [started]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 15:
            print(f"  {done:>9,} / {total:,}  {now - started:7.1f} s", flush=True)
            last[0] = now

    summary = build_demo(store, args.customers, seed=1, login=os.environ.get("USER", "bench"), progress=progress)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    written = _written() - written_before
    rows = sum(summary.rows.values())
    print(f"database      {store.engine.dialect.name}")
    print(f"customers     {args.customers:,} ({summary.customers:,} customers, {summary.leads:,} leads)")
    print(f"rows          {rows:,}  " + ", ".join(f"{k} {v:,}" for k, v in summary.rows.items()))
    print(f"build time    {elapsed:.1f} s  ({args.customers / elapsed:,.0f} customers/s, {rows / elapsed:,.0f} rows/s)")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"cpu time      {cpu:.1f} s in this process, {children.ru_utime + children.ru_stime:.1f} s in the writer")
    if tmp is not None:
        size = sum(p.stat().st_size for p in tmp.parent.glob(tmp.name + "*"))
        print(f"file size     {size / 2**20:,.0f} MiB  ({tmp})")
    else:
        with store.engine.connect() as connection:
            size = connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
        print(f"database size {size / 2**20:,.0f} MiB")
        print(f"WAL written   {(_wal_bytes(store) - wal_before) / 2**20:,.0f} MiB by the server (whole cluster)")
    written += children.ru_oublock * 512
    print(f"written       {written / 2**20:,.0f} MiB by this process and the writer")
    print("load average  before " + " ".join(f"{v:.2f}" for v in load_before)
          + "  after " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    store.dispose()


def _wal_bytes(store: Store) -> int:
    if store.is_sqlite:
        return 0
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT wal_bytes FROM pg_stat_wal").scalar_one())


def _written() -> int:
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("write_bytes:"))


if __name__ == "__main__":
    main()
