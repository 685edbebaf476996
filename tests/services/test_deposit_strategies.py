"""Deposit strategies: validation with field messages, the terms a deposit link copies, who may change them."""

from __future__ import annotations

import pytest
from sqlmodel import select

from agentdesk.db.models import DepositStrategy
from agentdesk.domain.enums import Role
from agentdesk.domain.errors import InvalidInput, NotFound, PermissionDenied
from agentdesk.domain.limits import AMOUNT_MAX
from agentdesk.services.links import strategies

from ..conftest import add_website


def test_create_list_and_the_terms_a_link_copies(store, actors):
    admin = actors[Role.ADMIN]
    add_website(store, "shop-eu", "EUR")
    made = strategies.create_strategy(store, admin, "  standard ", {"usd": [2_500, 1_000, 2_500], "EUR": [900]},
                                      True, {"USD": (500, 50_000)}, ["shop-us"])
    assert (made.name, made.amounts, made.limits, made.websites, made.created_by) == (
        "standard", {"USD": [1_000, 2_500], "EUR": [900]}, {"USD": (500, 50_000)}, ["shop-us"], "ada")
    assert made.summary == "standard · EUR 9.00 · USD 10.00, 25.00 · custom 5.00 to 500.00 USD · shop-us"
    assert [s.name for s in strategies.list_strategies(store, actors[Role.SALES])] == ["standard"]
    with store.read() as session:
        assert strategies.strategy_terms(session, "standard", "shop-us", "usd") == {
            "amounts": [1_000, 2_500], "custom_amount": True, "minimum": 500, "maximum": 50_000,
            "strategy": "standard"}
        assert strategies.strategy_terms(session, "standard", "shop-us", "EUR") == {
            "amounts": [900], "custom_amount": False, "minimum": None, "maximum": None, "strategy": "standard"}
        with pytest.raises(InvalidInput, match="not for website 'shop-eu'"):
            strategies.strategy_terms(session, "standard", "shop-eu", "USD")
        with pytest.raises(InvalidInput, match="no amounts in GBP"):
            strategies.strategy_terms(session, "standard", "shop-us", "GBP")
        with pytest.raises(InvalidInput, match="no deposit strategy"):
            strategies.strategy_terms(session, "premium", "shop-us", "USD")


def test_a_strategy_for_every_website(store, actors):
    add_website(store, "shop-eu", "EUR")
    strategies.create_strategy(store, actors[Role.ADMIN], "any", {"EUR": [1_000]}, False, {}, [])
    with store.read() as session:
        assert strategies.strategy_terms(session, "any", "shop-eu", "EUR")["amounts"] == [1_000]
        assert strategies.strategy_terms(session, "any", "shop-us", "EUR")["amounts"] == [1_000]


@pytest.mark.parametrize(("args", "field", "words"), [
    (("", {"USD": [100]}, False, {}, []), "name", "name"),
    (("x", {"XYZ": [100]}, False, {}, []), "amounts", "'XYZ' is not a supported currency"),
    (("x", {"USD": [0]}, False, {}, []), "amounts", "positive"),
    (("x", {"USD": [AMOUNT_MAX + 1]}, False, {}, []), "amounts", "at most"),
    (("x", {}, False, {}, []), "amounts", "at least one amount"),
    (("x", {}, True, {}, []), "limits", "minimum and maximum"),
    (("x", {}, True, {"USD": (5_000, 100)}, []), "limits", "minimum is above the maximum"),
    (("x", {"USD": [100]}, False, {"USD": (1, 2)}, []), "limits", "--custom-amount"),
    (("x", {"USD": [100]}, False, {}, ["nowhere"]), "websites", "no website 'nowhere'"),
])
def test_validation_names_the_field(store, actors, args, field, words):
    with pytest.raises(InvalidInput) as refused:
        strategies.create_strategy(store, actors[Role.ADMIN], *args)
    assert words in refused.value.fields[field]
    with store.read() as session:
        assert session.exec(select(DepositStrategy)).all() == []


def test_names_are_unique_and_delete_forgets(store, actors):
    admin = actors[Role.ADMIN]
    strategies.create_strategy(store, admin, "standard", {"USD": [1_000]}, False, {}, [])
    with pytest.raises(InvalidInput, match="already exists"):
        strategies.create_strategy(store, admin, "standard", {"USD": [2_000]}, False, {}, [])
    strategies.delete_strategy(store, admin, "standard")
    assert strategies.list_strategies(store, admin) == []
    with pytest.raises(NotFound):
        strategies.delete_strategy(store, admin, "standard")


def test_only_admins_change_strategies(store, actors):
    strategies.create_strategy(store, actors[Role.ADMIN], "standard", {"USD": [1_000]}, False, {}, [])
    for role in (Role.AGENT, Role.SALES, Role.FINANCE):
        with pytest.raises(PermissionDenied):
            strategies.create_strategy(store, actors[role], "mine", {"USD": [1_000]}, False, {}, [])
        with pytest.raises(PermissionDenied):
            strategies.delete_strategy(store, actors[role], "standard")
        assert [s.name for s in strategies.list_strategies(store, actors[role])] == ["standard"]
