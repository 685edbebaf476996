"""Admin actions on the profile: block and unblock; an agent has no block action at all."""

import re

from textual.widgets import Input

from agentdesk.config import load_settings
from agentdesk.services.agents import identity
from agentdesk.services.customers import records as customers
from agentdesk.services.risk import blocklist
from agentdesk.ui.dialogs.block import BlockDialog, UnblockDialog
from agentdesk.ui.screens.customer_profile import CustomerProfileScreen

from .helpers import (
    SIZE,
    console,
    dialog_text,
    notifications,
    palette_commands,
    settle,
    table_column,
    visible_text,
)

DEMO = (100, 12)




def shown(app, selector: str) -> str:
    """What the agent sees inside that widget (within its border)."""
    return visible_text(app, app.screen.query_one(selector), inside=True)


async def open_profile(pilot, app, external_id="CUS-0000042"):
    detail = customers.get_customer(app.store, app.actor, external_id)
    app.push_screen(CustomerProfileScreen(detail.id))
    await settle(pilot, app)
    return detail


async def test_admin_blocks_and_unblocks(demo_store):
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app)
        await pilot.press("B")
        await settle(pilot, app)
        assert isinstance(app.screen, BlockDialog)
        app.screen.query_one("#block-reason", Input).value = "stolen card"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        detail = customers.get_customer(demo_store, app.actor, "CUS-0000042")
        assert detail.blocked and "stolen card" in detail.block_reasons[0]
        assert "BLOCKED" in shown(app, "#profile-header")
        await pilot.press("U")
        await settle(pilot, app)
        assert isinstance(app.screen, UnblockDialog)
        assert "stolen card" in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen) and "BLOCKED" not in shown(app, "#profile-header")
        assert not customers.get_customer(demo_store, app.actor, "CUS-0000042").blocked
    assert blocklist.list_entries(demo_store, app.actor) == []


async def test_agent_has_no_block_action(demo_store):
    app = console(demo_store, "bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app)
        assert app.screen.check_action("block", ()) is False and app.screen.check_action("unblock", ()) is False
        commands = await palette_commands(app)
        assert "Block" not in commands and "Unblock" not in commands and "Tags" in commands
        await pilot.press("B")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
    assert blocklist.list_entries(demo_store, app.actor) == []


async def test_tags_with_keys_show_as_chips(demo_store):
    from agentdesk.ui.dialogs.profile import TagsDialog

    app = console(demo_store, "bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app)
        await pilot.press("t")
        await settle(pilot, app)
        assert isinstance(app.screen, TagsDialog)
        await pilot.press(*"VIP", "enter")
        await settle(pilot, app)
        await pilot.press(*"late payer", "enter")
        await settle(pilot, app)
        assert shown(app, "#tag-list").split("\n") == ["✕ late payer", "✕ vip"]
        await pilot.press("tab", "enter")
        await settle(pilot, app)
        assert shown(app, "#tag-list").split("\n") == ["✕ vip"] and "Removed late payer" in dialog_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert " vip " in shown(app, "#profile-header")
    detail = customers.get_customer(demo_store, app.actor, "CUS-0000042")
    assert detail.tags == ["vip"]
    assert [e.type for e in detail.timeline[:3]] == ["tag_removed", "tag_added", "tag_added"]
    assert all(e.actor == "bob" for e in detail.timeline[:3])


async def test_add_a_customer_with_two_emails_then_edit_the_address(demo_store):
    from agentdesk.ui.dialogs.customer_form import CustomerFormScreen

    app = console(demo_store, "bob")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        await settle(pilot, app)
        form = app.screen
        assert isinstance(form, CustomerFormScreen)
        for name, value in [("external_id", "NEW-1"), ("first_name", "Ada"), ("last_name", "Lovelace"),
                            ("emails", "ada@engines.example, countess@lovelace.example"),
                            ("phones", "020 7946 0123"), ("line1", "12 St James's Sq"), ("city", "London"),
                            ("country", "gb"), ("date_of_birth", "1915-13-10")]:
            form.query_one(f"#c-{name}", Input).value = value
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerFormScreen)
        assert "1915-13-10 is not a day of the calendar" in visible_text(app, form.query_one("#error-date_of_birth"))
        form.query_one("#c-date_of_birth", Input).value = "1915-12-10"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        await pilot.press("e")
        await settle(pilot, app)
        edit = app.screen
        assert isinstance(edit, CustomerFormScreen)
        edit.query_one("#c-line1", Input).value = "1 Marylebone Rd"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
    detail = customers.get_customer(demo_store, app.actor, "NEW-1")
    assert [(e.value, e.primary) for e in detail.emails] == [("ada@engines.example", True),
                                                             ("countess@lovelace.example", False)]
    assert detail.phones[0].value == "+442079460123" and detail.addresses[0].line1 == "1 Marylebone Rd"
    assert [e.type for e in detail.timeline[:2]] == ["address_modified", "customer_created"]
    assert detail.timeline[0].actor == "bob"


async def test_merge_marked_customers_from_the_table(demo_store):
    from agentdesk.domain.validation import ContactInput, CustomerInput
    from agentdesk.ui.dialogs.privacy import MergeDialog
    from agentdesk.ui.screens.customer_table import CustomerTableScreen

    operator = identity.resolve_actor(demo_store, "operator")
    for external_id, email in (("DUP-B", "b@example.com"), ("DUP-A", "a@example.com")):
        draft = CustomerInput("Sam", "Same", external_id, website="northwind-us", emails=[ContactInput(email)])
        customers.create_customer(demo_store, operator, draft)
    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("3")
        await settle(pilot, app)
        first, second = table_column(app.screen, "id")[:2]
        assert (first, second) == ("DUP-A", "DUP-B")
        await pilot.press("space", "down", "space", "M")
        await settle(pilot, app)
        assert isinstance(app.screen, MergeDialog)
        assert f"Keep {first}; merge {second} into it." in dialog_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert f"Merge {second} into {first}? This cannot be undone." in dialog_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerTableScreen)
        assert second not in table_column(app.screen, "id")[:5]
    assert customers.get_customer(demo_store, app.actor, second).external_id == first


async def test_anonymise_needs_the_id_typed(demo_store):
    from agentdesk.ui.dialogs.privacy import AnonymiseDialog

    app = console(demo_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app)
        await pilot.press("A")
        await settle(pilot, app)
        assert isinstance(app.screen, AnonymiseDialog)
        await pilot.press(*"yes", "enter")
        await settle(pilot, app)
        assert "type the customer's id" in shown(app, "#error-confirmation")
        app.screen.query_one(Input).value = "CUS-0000042"
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        assert "anonymised" in shown(app, "#profile-header")
    assert customers.get_customer(demo_store, app.actor, "CUS-0000042").first_name == "anonymised"


async def test_instruments_dialog(demo_store, tmp_path):
    from agentdesk.ui.dialogs.profile import InstrumentsDialog

    settings = load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path)})
    app = console(demo_store, "bob", settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app, "CUS-0000042")
        before = len(customers.get_customer(demo_store, app.actor, "CUS-0000042").instruments)
        await pilot.press("I")
        await settle(pilot, app)
        assert isinstance(app.screen, InstrumentsDialog)
        await pilot.press("a")
        await pilot.press(*"4000056655665556 09/32", "enter")
        await settle(pilot, app)
        listed = shown(app, "#instrument-list")
        assert len(re.findall(r"\bfp\b", listed)) == before + 1 and "Visa •••• 5556 exp 09/32" in listed
        assert "Card added" in dialog_text(app)
        await pilot.press("end")
        await pilot.press("g", *"stripe", "enter")
        await settle(pilot, app)
        await pilot.press("c")
        await pilot.pause()
        assert "Copied the fingerprint" in dialog_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
    detail = customers.get_customer(demo_store, app.actor, "CUS-0000042")
    assert any(i.last4 == "5556" and i.exp_year == 2032 and i.sticky_gateway == "stripe" for i in detail.instruments)


async def test_tax_ids_and_lead_source_dialogs(demo_store):
    from agentdesk.ui.dialogs.profile import LeadSourceDialog, TaxIdsDialog

    app = console(demo_store, "sara")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await open_profile(pilot, app)
        await pilot.press("X")
        await settle(pilot, app)
        assert isinstance(app.screen, TaxIdsDialog)
        await pilot.press(*"vat GB123456789", "enter")
        await settle(pilot, app)
        assert "VAT    GB123456789" in shown(app, "#tax-list")
        await pilot.press("escape")
        await settle(pilot, app)
        await pilot.press("L")
        await settle(pilot, app)
        assert isinstance(app.screen, LeadSourceDialog)
        app.screen.query_one("#lead-source", Input).value = "podcast"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
    detail = customers.get_customer(demo_store, app.actor, "CUS-0000042")
    assert detail.lead_source == {"source": "podcast"}
    assert [(t.type, t.value) for t in detail.tax_ids] == [("vat", "GB123456789")]


async def test_kyc_tab_upload_review_and_edd(demo_store, tmp_path):
    from agentdesk.services.risk import compliance
    from agentdesk.ui.dialogs.compliance import EddDialog, KycDialog

    scan = tmp_path / "licence.png"
    scan.write_bytes(b"\x89PNG" + b"0" * 100)
    settings = load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    app = console(demo_store, "bob", settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        detail = await open_profile(pilot, app)
        await pilot.press("4")
        await settle(pilot, app)
        assert "KYC documents" in shown(app, "#kyc-body")
        await pilot.press("K")
        await settle(pilot, app)
        assert isinstance(app.screen, KycDialog)
        await pilot.press("u", *"driving_licence", "enter", *str(scan), "enter")
        await settle(pilot, app)
        assert "driving_licence   pending" in shown(app, "#kyc-list")
        await pilot.press("a")
        await settle(pilot, app)
        assert "driving_licence   accepted" in shown(app, "#kyc-list")
        await pilot.press("escape")
        await settle(pilot, app)
        await pilot.press("D")
        await settle(pilot, app)
        assert isinstance(app.screen, EddDialog)
        app.screen.query_one("#edd-required").value = True
        app.screen.query_one("#edd-fraud", Input).value = "high"
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CustomerProfileScreen)
        body = shown(app, "#kyc-body")
        assert "driving_licence" in body and "accepted" in body and "fraud" in body and "next automated search" in body
    view = compliance.compliance(demo_store, app.actor, detail.id)
    assert view.documents[0].status == "accepted" and view.scores == {"fraud": "high"} and view.edd_required


async def test_kyc_review_keys_are_hidden_from_finance_and_say_which_role_they_need(demo_store, tmp_path):
    from agentdesk.services.risk import compliance
    from agentdesk.ui.dialogs.compliance import KycDialog

    scan = tmp_path / "passport.png"
    scan.write_bytes(b"\x89PNG" + b"0" * 100)
    settings = load_settings(demo_store.url, env={"AGENTDESK_DATA_DIR": str(tmp_path / "data")})
    operator = identity.resolve_actor(demo_store, "operator")
    detail = customers.get_customer(demo_store, operator, "CUS-0000042")
    compliance.upload_document(demo_store, operator, settings, detail.id, "passport", str(scan))
    documents = compliance.compliance(demo_store, operator, detail.id).documents
    app = console(demo_store, "fred", settings=settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        app.push_screen(KycDialog(detail.id, documents))
        await settle(pilot, app)
        commands = await palette_commands(app)
        assert "Save a copy" in commands and not {"Accept", "Reject", "Upload"} & set(commands)
        await pilot.press("a", "u")
        await settle(pilot, app)
        assert isinstance(app.screen, KycDialog) and "Kind" not in dialog_text(app)
        app.screen.action_review("accepted")
        await settle(pilot, app)
        assert any("needs admin, customer service agent or sales" in n for n in notifications(app))
    assert compliance.compliance(demo_store, operator, detail.id).documents[0].status == "pending"
