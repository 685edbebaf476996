"""`agentdesk worker` and `agentdesk gateway settle`: queued jobs, billing runs, repairs and settlement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import SECONDS
from agentdesk.cli.root import Desk, pass_desk


class Moment(click.ParamType):
    """An ISO 8601 date and time with its zone (2027-03-01T00:00:00Z), as UTC."""

    name = "datetime"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text[:40]!r} is not an ISO 8601 date and time (like 2027-03-01T00:00:00Z)", param, ctx)
        if moment.tzinfo is None:
            self.fail(f"{text[:40]!r} has no time zone; add Z for UTC (2027-03-01T00:00:00Z) or an offset", param, ctx)
        return moment.astimezone(UTC)


@click.command()
@click.option("--once", is_flag=True, help="run what is due now, then exit")
@click.option("--interval", type=SECONDS, default=5.0, show_default=True, metavar="SECONDS")
@click.option("--now", "clock", type=Moment(), metavar="DATETIME",
              help="with --once, on a store whose websites all use the sandbox gateway: bill as if it were this "
                   "moment (ISO 8601 with zone, e.g. 2027-03-01T00:00:00Z), to watch renewals, trials ending and "
                   "dunning happen; refused on a store with a real gateway, and without --once")
@pass_desk
def worker(desk: Desk, once: bool, interval: float, clock: datetime | None) -> int:
    """run queued jobs (emails, refund retries), billing (renewals, trials, dunning) and repairs"""
    import time

    from agentdesk.services.billing import engine
    from agentdesk.services.jobs import runner
    from agentdesk.services.money import settlement

    if clock is not None and not once:
        raise click.UsageError("--now needs --once: a moved clock runs one billing pass, then the worker exits")
    store, settings = desk.store(), desk.settings
    if clock is not None:
        engine.refuse_clock_unless_sandbox(store)
    report = runner.start_up(store, settings)
    output.echo(f"start-up: {report.repairs()}; {report.settled} transactions settled")
    while True:
        billing = engine.run_billing(store, settings, now=clock)
        if once or any(value for key, value in billing.to_dict().items() if key != "problems"):
            output.echo(billing.summary() + (f" (as of {clock.isoformat()})" if clock else ""))
        for problem in billing.problems:
            output.echo(f"  {problem}")
        report = runner.run_due(store, settings, now=clock)
        if report.done or report.retrying or report.failed:
            output.echo(f"jobs: {report.done} done, {report.retrying} to retry, {report.failed} failed")
        if once:
            return 0
        settlement.settle_from_gateway(store, settings)
        time.sleep(interval)


@click.group()
def gateway() -> None:
    """the sandbox gateway"""


@gateway.command()
@click.option("--all", "everything", is_flag=True)
@pass_desk
def settle(desk: Desk, everything: bool) -> int:
    """settle sandbox sales that are due (or --all now)"""
    from agentdesk.services.money import settlement

    count = settlement.settle_from_gateway(desk.store(), desk.settings, desk.actor, everything=everything)
    output.echo(f"settled {count} transactions")
    return 0
