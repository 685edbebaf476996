"""The portal's defences as a customer's browser meets them, in Chromium: expired, revoked, guessed and
malformed tokens get one "not valid" page; used links say so; markup typed anywhere comes back as text and
no script runs; a form without its CSRF field, an upload of the wrong type and an oversize one are refused
with nothing stored. Every page kind is saved as a phone and a desktop screenshot (printed with -s)."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from agentdesk.db.models import Address, Attachment, Customer, KycDocument, PaymentInstrument
from agentdesk.domain.enums import LinkKind, Role
from agentdesk.services.links.read import list_links, revoke_link
from agentdesk.services.links.requests import LinkRequest, request_link

from ..conftest import policy
from ..support.links import link_row, ready_link
from .conftest import Desk, Watched, screenshots
from .test_browser_flows import PDF, customer_id, h1, shop, work

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
SCRIPT_NAME = '<script>alert("name")</script><img src=x onerror="alert(1)">'
LINE1 = "<img src=x onerror=\"alert('line1')\">1 Main St"
CITY = "\"><script>alert('city')</script>Springfield"


async def visit(watched: Watched, url: str) -> int:
    response = await watched.page.goto(url)
    assert response is not None
    return response.status


async def submit(watched: Watched, selector: str) -> int:
    """Click a submit button; the status of the page the form led to."""
    async with watched.page.expect_navigation() as navigation:
        await watched.page.click(selector)
    response = await navigation.value
    return response.status if response is not None else 0


async def main_text(watched: Watched) -> str:
    return await watched.page.inner_text("main")


def nothing_uploaded(desk: Desk, token: str) -> None:
    with desk.store.read() as session:
        assert session.execute(select(KycDocument)).scalars().all() == []
        assert session.execute(select(Attachment)).scalars().all() == []
    assert link_row(desk.store, token).uses == 0


async def test_expired_revoked_guessed_and_malformed_tokens_get_one_not_valid_page(desk, page, tmp_path):
    store = desk.store
    actors = shop(store)
    cid = customer_id(store)
    expired = ready_link(store, cid, LinkKind.KYC, hours=-1)
    revoked = ready_link(store, cid, LinkKind.DEPOSIT, {"currency": "USD", "amounts": [1_000], "custom_amount": False,
                                                        "minimum": None, "maximum": None, "strategy": None})
    revoke_link(store, actors[Role.AGENT], link_row(store, revoked).id, "sent to the wrong person")
    guessed = secrets.token_hex(32)
    answers = []
    for token in (expired, revoked, guessed, "abc", "<script>alert(1)</script>"):
        status = await visit(page, f"{desk.base_url}/l/{token}")
        answers.append((status, await h1(page), await main_text(page)))
    assert {status for status, _, _ in answers} == {404}
    assert len(set(answers)) == 1, "the same answer for every bad token, so none can be probed"
    assert answers[0][1] == "Link not valid" and "It may have expired" in answers[0][2]
    assert page.dialogs == []
    await screenshots(page.page, tmp_path, "not-valid")
    assert link_row(store, expired).opened_at is None and link_row(store, revoked).opened_at is None


async def test_a_used_add_card_link_says_so_in_the_tab_that_resubmits_and_on_reopening(desk, page, tmp_path):
    store = desk.store
    shop(store)
    cid = customer_id(store)
    token = ready_link(store, cid, LinkKind.ADD_CARD, {"redirect_url": "https://shop-us.example/account"})
    url = f"{desk.base_url}/l/{token}"
    second = await page.page.context.new_page()
    await second.goto(url)
    assert await visit(page, url) == 200
    assert await h1(page) == "Add a card"
    await screenshots(page.page, tmp_path, "add-card")
    for tab in (page.page, second):
        await tab.fill("#number", "4242 4242 4242 4242")
        await tab.fill("#expiry", "12/30")
    await page.page.check("#make_default")
    assert await submit(page, "#submit") == 200
    assert await h1(page) == "Card added"
    assert await page.page.get_attribute("#continue", "href") == "https://shop-us.example/account"
    await screenshots(page.page, tmp_path, "done")

    await second.click("#submit")
    assert (await second.inner_text("h1")).strip() == "Link already used"
    assert await visit(page, url) == 410
    assert await h1(page) == "Link already used"
    await screenshots(page.page, tmp_path, "used")
    with store.read() as session:
        cards = session.execute(select(PaymentInstrument).where(PaymentInstrument.customer_id == cid)).scalars().all()
    assert len(cards) == 1 and cards[0].is_primary and link_row(store, token).uses == 1


async def test_markup_in_the_name_and_the_billing_address_is_shown_as_text_and_never_runs(desk, page, tmp_path):
    store = desk.store
    shop(store)
    cid = customer_id(store)
    with store.write(unrecorded="test: a name as an import could leave it") as session:
        customer = session.get(Customer, cid)
        assert customer is not None
        customer.first_name = SCRIPT_NAME
        session.add(customer)
    token = ready_link(store, cid, LinkKind.PORTAL, {})
    url = f"{desk.base_url}/l/{token}"
    await visit(page, url)
    assert f"Hello {SCRIPT_NAME}," in await main_text(page)
    assert await page.page.locator("main script, main img").count() == 0

    await page.page.fill("#line1", LINE1)
    await page.page.fill("#city", CITY)
    await page.page.fill("#region", "</textarea><b>bold</b>")
    await page.page.fill("#country", "<b>XX</b>")
    assert await submit(page, "#save-address") == 400
    assert await h1(page) == "Your account"
    assert "There is a problem" in await page.page.inner_text("#error-summary")
    assert await page.page.input_value("#line1") == LINE1, "what was typed comes back as typed, as text"
    assert await page.page.input_value("#country") == "<b>XX</b>"
    assert await page.page.locator("main script, main img, main b").count() == 0
    await screenshots(page.page, tmp_path, "form-errors")

    await page.page.fill("#country", "US")
    assert await submit(page, "#save-address") == 200
    assert await h1(page) == "Billing address saved"
    await page.page.click("#back")
    assert await page.page.input_value("#line1") == LINE1 and await page.page.input_value("#city") == CITY
    assert await page.page.input_value("#region") == "</textarea><b>bold</b>"
    assert f"Hello {SCRIPT_NAME}," in await main_text(page)
    assert await page.page.locator("main script, main img, main b").count() == 0
    await screenshots(page.page, tmp_path, "portal-escaped")
    with store.read() as session:
        [address] = session.execute(select(Address).where(Address.customer_id == cid)).scalars().all()
        assert (address.line1, address.city) == (LINE1, CITY)
    assert page.dialogs == [] and page.errors == [], "no script ran"


async def test_a_form_without_its_csrf_field_is_refused_and_nothing_is_kept(desk, page, tmp_path):
    store = desk.store
    shop(store)
    cid = customer_id(store)
    token = ready_link(store, cid, LinkKind.KYC, {"document_types": ["passport"]})
    url = f"{desk.base_url}/l/{token}"
    await visit(page, url)
    await page.page.evaluate("document.querySelector('input[name=csrf]').remove()")
    await page.page.set_input_files("#document_passport", files=[
        {"name": "passport.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    assert await submit(page, "#submit") == 403
    assert await h1(page) == "Form not accepted"
    await screenshots(page.page, tmp_path, "forbidden")

    await visit(page, url)
    await page.page.evaluate("document.querySelector('input[name=csrf]').value = 'x'.repeat(43)")
    await page.page.set_input_files("#document_passport", files=[
        {"name": "passport.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    assert await submit(page, "#submit") == 403

    card = ready_link(store, cid, LinkKind.ADD_CARD, {})
    await visit(page, f"{desk.base_url}/l/{card}")
    answer = await page.page.request.post(f"{desk.base_url}/l/{card}/card",
                                          form={"number": "4242424242424242", "expiry": "12/30"})
    assert answer.status == 403 and "Form not accepted" in await answer.text()
    nothing_uploaded(desk, token)
    assert link_row(store, card).uses == 0
    assert page.dialogs == []


async def test_wrong_type_and_oversize_uploads_are_refused_then_a_good_one_is_kept(desk, page, tmp_path):
    store = desk.store
    actors = shop(store)
    policy(store, {"attachment_limit": 2_048})
    request_link(store, actors[Role.AGENT], desk.settings, "C-1", LinkRequest(LinkKind.KYC))
    work(desk)
    [link] = list_links(store, actors[Role.AGENT], "C-1")
    assert link.url is not None and link.url.startswith(desk.base_url)
    url = link.url
    token = url.rsplit("/", 1)[1]

    await visit(page, url)
    await choose(page, b"MZ\x90\0 this is a program, not a passport", PNG)
    assert await submit(page, "#submit") == 400
    assert "only PDF, PNG or JPEG files are accepted" in await page.page.inner_text("#error-summary")
    await screenshots(page.page, tmp_path, "kyc-errors")
    nothing_uploaded(desk, token)

    await choose(page, PDF + b"%" * 4_000, PNG)
    assert await submit(page, "#submit") == 400
    assert "the limit is 2,048" in await page.page.inner_text("#error-summary")
    nothing_uploaded(desk, token)

    await choose(page, PDF + b"%" * 200_000, PNG)
    assert await submit(page, "#submit") == 413
    assert await h1(page) == "Too large"
    await screenshots(page.page, tmp_path, "too-large")
    nothing_uploaded(desk, token)

    await visit(page, url)
    await choose(page, PDF, PNG)
    assert await submit(page, "#submit") == 200
    assert await h1(page) == "Documents received"
    with store.read() as session:
        kinds = session.execute(select(KycDocument.kind).order_by(KycDocument.id)).scalars().all()
    assert kinds == ["passport", "proof_of_address"]
    assert page.dialogs == []


async def choose(watched: Watched, passport: bytes, bill: bytes) -> None:
    await watched.page.set_input_files("#document_passport", files=[
        {"name": "passport.pdf", "mimeType": "application/pdf", "buffer": passport}])
    await watched.page.set_input_files("#document_proof_of_address", files=[
        {"name": "bill.png", "mimeType": "image/png", "buffer": bill}])



async def test_password_reset_page_refuses_a_mismatch_without_echoing_the_password(desk, page, tmp_path):
    store = desk.store
    shop(store)
    cid = customer_id(store)
    with store.write(unrecorded="test: a membership login") as session:
        customer = session.get(Customer, cid)
        assert customer is not None
        customer.membership_login = "grace"
        session.add(customer)
    token = ready_link(store, cid, LinkKind.PASSWORD_RESET, {"login": "grace"})
    await visit(page, f"{desk.base_url}/l/{token}")
    assert await h1(page) == "Choose a new password"
    await screenshots(page.page, tmp_path, "password-reset")
    await page.page.fill("#password", "correct horse battery")
    await page.page.fill("#repeat", "correct horse battery!")
    assert await submit(page, "#submit") == 400
    assert "the two entries differ" in await page.page.inner_text("#error-summary")
    assert await page.page.input_value("#password") == "" and "correct horse" not in await page.page.content()
    await page.page.fill("#password", "correct horse battery")
    await page.page.fill("#repeat", "correct horse battery")
    assert await submit(page, "#submit") == 200
    assert await h1(page) == "Password changed"
    with store.read() as session:
        changed = session.get(Customer, cid)
        assert changed is not None and (changed.membership_password_hash or "").startswith("scrypt$")
