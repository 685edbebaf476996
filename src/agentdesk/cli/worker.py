"""`agentdesk worker` and `agentdesk gateway settle`: queued jobs, repairs and settlement."""

from __future__ import annotations

import click

from agentdesk.cli import output
from agentdesk.cli.arguments import SECONDS
from agentdesk.cli.root import Desk, pass_desk


@click.command()
@click.option("--once", is_flag=True, help="run what is due now, then exit")
@click.option("--interval", type=SECONDS, default=5.0, show_default=True, metavar="SECONDS")
@pass_desk
def worker(desk: Desk, once: bool, interval: float) -> int:
    """run queued jobs (emails, refund retries) and repairs"""
    import time

    from agentdesk.services.jobs import runner
    from agentdesk.services.money import settlement

    store, settings = desk.store(), desk.settings
    report = runner.start_up(store, settings)
    output.echo(f"start-up: {report.repairs()}; {report.settled} transactions settled")
    while True:
        report = runner.run_due(store, settings)
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
