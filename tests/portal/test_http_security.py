"""The portal's defences over HTTP: one answer for every bad token, used links, CSRF, origin, body size,
upload type, escaping, headers on every response, the guessing limit, and no tokens in logs."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from agentdesk.db.models import Attachment, KycDocument
from agentdesk.domain.enums import LinkKind, LinkStatus
from agentdesk.portal.security import CSRF_COOKIE, HideTokens
from tests.conftest import policy
from tests.portal.http_support import EXE, PDF, PNG, assert_headers, make_portal
from tests.support.links import link_row


@pytest.fixture
def portal(sqlite_store, tmp_path):
    return make_portal(sqlite_store, tmp_path)


def nothing_uploaded(portal, token) -> None:
    with portal.store.read() as session:
        assert session.exec(select(KycDocument)).all() == []
        assert session.exec(select(Attachment)).all() == []
    assert link_row(portal.store, token).uses == 0


def kyc_files(first: bytes = PDF, second: bytes = PNG, name: str = "passport.pdf"):
    return {"document_passport": (name, first, "application/pdf"),
            "document_proof_of_address": ("bill.png", second, "image/png")}


def test_unknown_expired_revoked_and_malformed_tokens_get_one_answer(portal):
    expired = portal.link(LinkKind.KYC, hours=-1)
    revoked = portal.link(LinkKind.KYC)
    with portal.store.write(unrecorded="test: a link revoked by hand") as session:
        from agentdesk.db.models import Link

        row = session.get(Link, link_row(portal.store, revoked).id)
        row.status = LinkStatus.REVOKED
        session.add(row)
    never_generated = "f" * 64
    answers = [portal.client.get(f"/l/{t}") for t in (expired, revoked, never_generated, "abc", "A" * 64,
                                                       "%3Cscript%3E", "0" * 65)]
    answers.append(portal.client.post(f"/l/{'0' * 64}/kyc", data={"csrf": "x"}))
    answers.append(portal.client.get(f"/l/{expired}/nothing-here"))
    answers.append(portal.client.get(f"/l/{expired}/kyc"))
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1
    assert "This link is not valid" in answers[0].text
    for answer in answers:
        assert_headers(answer)
        assert CSRF_COOKIE not in answer.headers.get("set-cookie", "")


def test_a_used_link_answers_410(portal):
    token = portal.link(LinkKind.KYC)
    csrf = portal.csrf(token)
    done = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf}, files=kyc_files())
    assert done.status_code == 200, done.text
    assert "We received 2 documents" in done.text
    assert_headers(done)
    again = portal.client.get(f"/l/{token}")
    assert again.status_code == 410 and "already been used" in again.text
    assert_headers(again)
    resent = portal.client.post(f"/l/{token}/kyc", data={"csrf": portal.client.cookies.get(CSRF_COOKIE)},
                                files=kyc_files())
    assert resent.status_code == 410
    with portal.store.read() as session:
        assert len(session.exec(select(KycDocument)).all()) == 2


@pytest.mark.parametrize("csrf", [None, "", "wrong-value-wrong-value-wrong"])
def test_csrf_missing_or_wrong_is_refused_and_nothing_written(portal, csrf):
    token = portal.link(LinkKind.KYC)
    portal.csrf(token)
    data = {} if csrf is None else {"csrf": csrf}
    answer = portal.client.post(f"/l/{token}/kyc", data=data, files=kyc_files())
    assert answer.status_code == 403 and "Form not accepted" in answer.text
    assert_headers(answer)
    nothing_uploaded(portal, token)


def test_csrf_without_the_cookie_is_refused(portal):
    token = portal.link(LinkKind.KYC)
    csrf = portal.csrf(token)
    portal.client.cookies.clear()
    answer = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf}, files=kyc_files())
    assert answer.status_code == 403
    nothing_uploaded(portal, token)


def test_csrf_cookie_is_httponly_strict_and_secure(portal):
    token = portal.link(LinkKind.KYC)
    page = portal.client.get(f"/l/{token}")
    cookie = page.headers["set-cookie"].lower()
    assert cookie.startswith(CSRF_COOKIE) and "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" in cookie and "path=/" in cookie


@pytest.mark.parametrize("headers", [{"origin": "https://evil.example"},
                                     {"origin": "null", "sec-fetch-site": "same-site"},
                                     {"sec-fetch-site": "cross-site"}])
def test_cross_origin_forms_are_refused(portal, headers):
    token = portal.link(LinkKind.KYC)
    csrf = portal.csrf(token)
    answer = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf}, files=kyc_files(), headers=headers)
    assert answer.status_code == 403
    assert_headers(answer)
    nothing_uploaded(portal, token)


def test_same_origin_and_the_public_address_are_accepted(portal):
    policy(portal.store, {"portal_base_url": "https://portal.shop.example"})
    chromium_without_referrer = {"origin": "null", "sec-fetch-site": "same-origin"}
    for headers in ({"origin": "https://testserver"}, {"origin": "https://portal.shop.example"},
                    chromium_without_referrer):
        token = portal.link(LinkKind.KYC)
        csrf = portal.csrf(token)
        answer = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf}, files=kyc_files(), headers=headers)
        assert answer.status_code == 200, answer.text


def test_oversize_upload_is_refused_with_413_and_nothing_stored(portal):
    policy(portal.store, {"attachment_limit": 1024})
    token = portal.link(LinkKind.KYC)
    csrf = portal.csrf(token)
    big = PDF + b"0" * (3 * 1024 + 70 * 1024)
    answer = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf}, files=kyc_files(first=big))
    assert answer.status_code == 413 and "too large" in answer.text
    assert_headers(answer)
    nothing_uploaded(portal, token)
    assert not (portal.settings.data_dir / "attachments").exists() or not any(
        (portal.settings.data_dir / "attachments").iterdir())


def test_a_file_over_the_limit_within_the_body_margin_is_named_beside_its_field(portal):
    policy(portal.store, {"attachment_limit": 1024})
    token = portal.link(LinkKind.KYC)
    csrf = portal.csrf(token)
    answer = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf}, files=kyc_files(first=PDF + b"0" * 1500))
    assert answer.status_code == 400
    assert '<a href="#document_passport">the file is' in answer.text
    assert 'id="document_passport-error"' in answer.text
    nothing_uploaded(portal, token)


def test_an_exe_renamed_pdf_is_refused(portal):
    token = portal.link(LinkKind.KYC)
    csrf = portal.csrf(token)
    answer = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf}, files=kyc_files(first=EXE))
    assert answer.status_code == 400
    assert "only PDF, PNG or JPEG files are accepted" in answer.text
    assert '<a href="#document_passport">' in answer.text
    assert_headers(answer)
    nothing_uploaded(portal, token)


def test_a_missing_file_is_named(portal):
    token = portal.link(LinkKind.KYC)
    csrf = portal.csrf(token)
    files = {"document_passport": ("passport.pdf", PDF, "application/pdf")}
    answer = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf}, files=files)
    assert answer.status_code == 400
    assert '<a href="#document_proof_of_address">choose a file</a>' in answer.text
    nothing_uploaded(portal, token)


def test_markup_in_the_first_name_and_website_name_is_escaped(sqlite_store, tmp_path):
    portal = make_portal(sqlite_store, tmp_path, website_name="<b>Shop</b>{{7*7}}")
    token = portal.link(LinkKind.KYC)
    page = portal.client.get(f"/l/{token}")
    assert page.status_code == 200
    assert "<script>" not in page.text and "<b>Shop" not in page.text
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;{{7*7}}," in page.text
    assert "&lt;b&gt;Shop&lt;/b&gt;{{7*7}}" in page.text


def test_markup_in_an_uploaded_file_name_never_reaches_the_page(portal):
    token = portal.link(LinkKind.KYC)
    csrf = portal.csrf(token)
    answer = portal.client.post(f"/l/{token}/kyc", data={"csrf": csrf},
                                files=kyc_files(first=EXE, name="<script>alert(1)</script>.pdf"))
    assert "<script>alert(1)" not in answer.text


def test_headers_on_every_response(portal):
    token = portal.link(LinkKind.KYC)
    for response in (portal.client.get("/healthz"), portal.client.get("/static/portal.css"),
                     portal.client.get(f"/l/{token}"), portal.client.get("/nowhere"),
                     portal.client.put(f"/l/{token}"), portal.client.post(f"/l/{token}/kyc")):
        assert_headers(response)
    assert portal.client.get("/healthz").text == "ok"
    css = portal.client.get("/static/portal.css")
    assert css.headers["content-type"].startswith("text/css") and "body" in css.text


def test_a_form_post_that_is_not_a_form_is_refused(portal):
    token = portal.link(LinkKind.KYC)
    portal.csrf(token)
    answer = portal.client.post(f"/l/{token}/kyc", content=b"{}", headers={"content-type": "application/json"})
    assert answer.status_code == 400
    nothing_uploaded(portal, token)


def test_an_unexpected_error_is_a_plain_500_page_without_customer_data(portal, monkeypatch, caplog):
    from agentdesk.services.links import customer_documents

    def broken(store, token):
        raise RuntimeError("secret customer detail 4242424242424242")

    monkeypatch.setattr(customer_documents, "kyc_page", broken)
    token = portal.link(LinkKind.KYC)
    with caplog.at_level(logging.ERROR, logger="agentdesk.portal"):
        answer = portal.client.get(f"/l/{token}")
    assert answer.status_code == 500 and "Something went wrong" in answer.text
    assert "4242" not in answer.text
    assert_headers(answer)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged and "4242" not in logged and token not in logged


def test_guessing_is_limited_per_address(portal):
    good = portal.link(LinkKind.KYC)
    for n in range(20):
        assert portal.client.get(f"/l/{n:064x}").status_code == 404
    refused = portal.client.get(f"/l/{21:064x}")
    assert refused.status_code == 429 and "Too many attempts" in refused.text
    assert_headers(refused)
    assert portal.client.get(f"/l/{good}").status_code == 429
    assert portal.client.get("/healthz").status_code == 200


def test_the_limit_forgets_after_its_window():
    from agentdesk.portal.security import GuessLimit

    now = [1000.0]
    limit = GuessLimit(limit=3, window=600, clock=lambda: now[0])
    for _ in range(3):
        limit.failed("10.0.0.1")
    assert limit.blocked("10.0.0.1") and not limit.blocked("10.0.0.2")
    now[0] += 599
    assert limit.blocked("10.0.0.1")
    now[0] += 2
    assert not limit.blocked("10.0.0.1")


def test_tokens_are_hidden_in_log_lines():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/1.1" %d',
                               ("127.0.0.1:5000", "GET", "/l/" + "a" * 64 + "/kyc?x=1", 200), None)
    assert HideTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /l/…/kyc?x=1 HTTP/1.1" 200'


def test_a_large_plain_form_is_refused_even_without_a_declared_length(portal):
    token = portal.link(LinkKind.PORTAL)
    csrf = portal.csrf(token)
    declared = portal.client.post(f"/l/{token}/address", data={"csrf": csrf, "line1": "x" * 70_000})
    assert declared.status_code == 413
    assert_headers(declared)

    def chunks():
        yield f"csrf={csrf}&line1=".encode()
        for _ in range(20):
            yield b"y" * 4096

    streamed = portal.client.post(f"/l/{token}/address", content=chunks(),
                                  headers={"content-type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413
    with portal.store.read() as session:
        from agentdesk.db.models import Address

        assert session.exec(select(Address)).all() == []
