"""Payment gateways behind one protocol; which one a website uses comes from its settings."""

from __future__ import annotations

from agentdesk.services.money.gateways.base import (  # noqa: F401
    Gateway,
    GatewayError,
    GatewayResult,
    GatewayTimeout,
    Outcome,
)


def gateway_for(store, name: str, settings=None) -> Gateway:
    """The gateway called `name` ("sandbox", "stripe"), configured from `settings.gateways`."""
    config = dict((getattr(settings, "gateways", None) or {}).get(name, {}))
    if name == "sandbox":
        from agentdesk.services.money.gateways.sandbox import SandboxGateway

        return SandboxGateway(store, **config)
    if name == "stripe":
        from agentdesk.services.money.gateways.stripe import StripeGateway

        return StripeGateway(**config)
    raise GatewayError(f"no gateway named {name!r} is configured")
