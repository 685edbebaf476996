"""`agentdesk doctor`: check the deployment (owners, modes, who could open the store, key, policy, triggers)."""

from __future__ import annotations

import click

from agentdesk.cli import output
from agentdesk.cli.root import EXIT_ERROR, Desk, pass_desk
from agentdesk.domain.text import visible


@click.command()
@output.json_option
@pass_desk
def doctor(desk: Desk, as_json: bool) -> int:
    """check this deployment and say what to fix

    Run it as the service account, the way agents run the console
    (sudo -u agentdesk agentdesk doctor). It opens the store read-only and
    changes nothing; the exit status is 1 when anything needs fixing.
    """
    from agentdesk.services.deploy.doctor import diagnose

    report = diagnose(desk.settings)
    if as_json:
        output.emit_json(report.to_dict())
    else:
        via = f" (through sudo, for {report.invoker})" if report.invoker else ""
        output.echo(f"running as {visible(report.running_as)}{via}; service account {visible(report.service_account)}")
        for check in report.checks:
            if check.ok:
                output.echo(f"ok    {check.what}: {visible(check.found)}")
            else:
                output.echo(f"FIX   {check.what}: {visible(check.found)}; fix: {visible(check.fix or '')}")
        count = len(report.problems)
        output.echo("deployment ok" if not count else f"{count} problem(s) to fix", err=bool(count))
    return 0 if report.ok else EXIT_ERROR
