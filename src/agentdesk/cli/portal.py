"""`agentdesk portal`: the customer portal, served by uvicorn (meant to sit behind an HTTPS reverse proxy)."""

from __future__ import annotations

import click

from agentdesk.cli import output
from agentdesk.cli.root import Desk, pass_desk


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@pass_desk
def portal(desk: Desk, host: str, port: int) -> int:
    """serve the customer portal (the pages behind the links sent to customers)"""
    import uvicorn

    from agentdesk.portal.app import create_app
    from agentdesk.services.links.customer_site import portal_base_url

    store, settings = desk.store(), desk.settings
    app = create_app(store, settings)
    base = portal_base_url(store)
    output.echo(f"portal on http://{host}:{port}/ (public address: "
                f"{base or 'not set; set policy portal_base_url so links can be sent'})")
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", server_header=False,
                lifespan="off")
    return 0
