"""Payment gateways behind one protocol; which one a website uses comes from the store's policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, overload

from agentdesk.services.money.gateways.base import (  # noqa: F401
    CARD_REFUSED,
    Gateway,
    GatewayError,
    GatewayResult,
    GatewayTimeout,
    Outcome,
)

if TYPE_CHECKING:
    from sqlmodel import Session

    from agentdesk.config import Settings
    from agentdesk.db.models import Website
    from agentdesk.db.store import Store
    from agentdesk.services.money.gateways.sandbox import SandboxGateway


@overload
def gateway_for(store: Store, name: Literal["sandbox"], settings: Settings | None = None) -> SandboxGateway: ...


@overload
def gateway_for(store: Store, name: str, settings: Settings | None = None) -> Gateway: ...


def gateway_for(store: Store, name: str, settings: Settings | None = None) -> Gateway:
    """The gateway called `name` ("sandbox", "stripe"), configured from `settings.gateways`.

    The settings were validated when they were loaded, so the only failure left
    here is a gateway that is not configured at all (`GatewayError`).
    """
    from agentdesk.config import GatewaysSettings

    gateways = settings.gateways if settings is not None else GatewaysSettings()
    if name == "sandbox":
        from agentdesk.services.money.gateways.sandbox import SandboxGateway

        return SandboxGateway(store, settle_after_seconds=gateways.sandbox.settle_after_seconds)
    if name == "stripe":
        from agentdesk.services.money.gateways.stripe import StripeGateway

        if gateways.stripe is None:
            raise GatewayError("the stripe gateway is not configured: it needs [gateways.stripe] with an api_key")
        return StripeGateway.from_settings(gateways.stripe)
    raise GatewayError(f"no gateway named {name!r} is configured")


def gateway_name(session: Session, website: Website, settings: Settings | None = None) -> str:
    """The gateway a website's new payments go through: policy `website_gateway.<code>`, else the website's own.

    Read in the caller's transaction, before anything is recorded: a gateway
    this host has no configuration for is refused here, not after a pending
    payment was written.
    """
    from agentdesk.domain.errors import Conflict
    from agentdesk.services.policy import service as policy

    chosen = policy.website_gateway(session, website.code)
    name = chosen or website.gateway
    if name == "stripe" and (settings is None or settings.gateways.stripe is None):
        source = f"policy website_gateway.{website.code}" if chosen else f"website {website.code}"
        raise Conflict(f"{source} uses stripe, but this host has no [gateways.stripe] with its api_key "
                       "in the service account's config")
    return name


class SettlesOnDemand(Protocol):
    """A gateway that settles when asked to (the sandbox); a real processor reports its settlements."""

    name: str

    def settle_due(self, everything: bool = False) -> list[str]: ...


def gateways_that_settle(store: Store, settings: Settings | None = None) -> list[SettlesOnDemand]:
    """The gateways to ask for what is due to settle (at start-up and by `agentdesk gateway settle`)."""
    return [gateway_for(store, "sandbox", settings)]
