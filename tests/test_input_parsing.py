"""What people type, parsed strictly (issue 10, findings 5-6): dates, amounts, counts, emails, free text, CSV cells."""
# ruff: noqa: RUF001  (look-alike digits and signs are the inputs under test)

from __future__ import annotations

from datetime import date

import pytest

from agentdesk.domain import limits
from agentdesk.domain.dates import parse_date, parse_optional_date
from agentdesk.domain.errors import InvalidInput, NotFound
from agentdesk.domain.money import MAX_MINOR, parse_amount
from agentdesk.domain.numbers import parse_count
from agentdesk.domain.text import check_text, text_problem, visible
from agentdesk.domain.validation import ContactInput, check_date_of_birth, normalized_email
from agentdesk.services.customers import records
from agentdesk.services.customers.export import neutralise
from agentdesk.services.customers.filters import parse_filters
from agentdesk.services.risk import blocklist
from agentdesk.services.timeline import notes, read

from .conftest import customer_input


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# --- dates -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, day", [
    ("2024-01-31", date(2024, 1, 31)), (" 2024-02-29 ", date(2024, 2, 29)),
    ("0001-01-01", date.min), ("9999-12-31", date.max),
])
def test_parse_date_takes_yyyy_mm_dd(text, day):
    assert parse_date(text, "since") == day


@pytest.mark.parametrize("text, says", [
    ("20240101", "write it as YYYY-MM-DD"), ("2024-W01-1", "write it as YYYY-MM-DD"),
    ("2024-001", "write it as YYYY-MM-DD"), ("2024-1-1", "write it as YYYY-MM-DD"),
    ("٢٠٢٤-٠١-٠١", "write it as YYYY-MM-DD"), ("２０２４-０１-０１", "write it as YYYY-MM-DD"),
    ("2024-01-01T00:00", "write it as YYYY-MM-DD"), ("", "write it as YYYY-MM-DD"),
    ("2023-02-29", "not a day of the calendar"), ("0000-00-00", "not a day of the calendar"),
    ("2024-13-01", "not a day of the calendar"), ("9999-99-99", "not a day of the calendar"),
])
def test_parse_date_refuses_every_other_form(text, says):
    message = refused(parse_date, text, "since")
    assert message.startswith("since: ") and says in message


def test_a_long_date_is_quoted_short():
    assert len(refused(parse_date, "9" * 10_000, "until")) < 120


def test_parse_optional_date():
    assert parse_optional_date(None, "x") is None and parse_optional_date("  ", "x") is None
    assert parse_optional_date("2024-05-06", "x") == date(2024, 5, 6)


def test_every_date_input_uses_the_strict_parser(store, admin):
    """`date.fromisoformat` took these and the prompts said YYYY-MM-DD: each place that reads a date refuses them."""
    for bad in ("20240101", "2024-W01-1"):
        assert "YYYY-MM-DD" in refused(read.parse_since_until, bad, None)
        assert "YYYY-MM-DD" in refused(parse_filters, {"created_from": bad})
        assert "YYYY-MM-DD" in refused(blocklist.parse_expiry, bad)
        problems: dict[str, str] = {}
        assert check_date_of_birth(bad, problems) is None and "YYYY-MM-DD" in problems["date_of_birth"]
        assert "date_of_birth" in refused(records.create_customer, store, admin,
                                          customer_input(external_id="D-1", date_of_birth=bad))


# --- the timeline's range reaches the ends of the calendar ------------------------------------------------------------

def test_timeline_range_to_the_end_of_time(store, admin):
    records.create_customer(store, admin, customer_input())
    notes.add_note(store, admin, "C-1", "first")
    since, until = read.parse_since_until("0001-01-01", "9999-12-31")
    page = read.timeline_page(store, admin, "C-1", read.TimelineFilter(since=since, until=until))
    assert any(e.attributes.get("text") == "first" for e in page.entries)
    only_last_day = read.TimelineFilter(since=date.max, until=date.max)
    assert read.timeline_page(store, admin, "C-1", only_last_day).entries == []
    first_day = read.TimelineFilter(since=date.min, until=date.min)
    assert read.timeline_page(store, admin, "C-1", first_day).entries == []


def test_timeline_words_filter_is_checked_text():
    assert "not valid UTF-8" in refused(read.TimelineFilter, text="bad\udcff")
    assert "NUL" in refused(read.TimelineFilter, text="a\x00b")
    assert "longer than" in refused(read.TimelineFilter, text="x" * (read.SEARCH_LIMIT + 1))


# --- amounts and counts ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["١٢", "１２", "१२", "۱۲", "12.٥", "²", "1_000", "12\u00a0000"])
def test_amounts_take_ascii_digits_only(text):
    message = refused(parse_amount, text, "USD")
    assert message.startswith("amount: ")
    if any(ch.isdigit() and not ch.isascii() for ch in text):
        assert "digits other than 0-9" in message


@pytest.mark.parametrize("text", ["1e9", "1E3", "inf", "-inf", "nan", "Infinity", "0x10", "0b1", "+5", "12.", ".5",
                                  "1" * 10_000, "0." + "1" * 10_000])
def test_exotic_numbers_are_not_amounts(text):
    assert refused(parse_amount, text, "USD").startswith("amount: ")


def test_the_largest_amount_fits_a_64_bit_column_with_room_for_sums():
    assert MAX_MINOR <= limits.AMOUNT_MAX < 2**63 - 1
    assert parse_amount("999999999999.999", "KWD") == MAX_MINOR
    assert parse_amount("999999999999.99", "USD") == 99_999_999_999_999
    for text in ("9223372036854775807", "92233720368547758.08", "1000000000000", "9" * 400):
        assert "too large" in refused(parse_amount, text, "USD")
    assert parse_amount("0" * 5000 + "12.30", "USD") == 1230, "leading zeros are not digits that count"


@pytest.mark.parametrize("text, value", [("0", 0), ("42", 42), (" 7 ", 7), ("0" * 5000 + "5", 5),
                                         (str(2**63 - 1), 2**63 - 1)])
def test_parse_count(text, value):
    assert parse_count(text, "n") == value


@pytest.mark.parametrize("text, says", [
    ("١٢", "digits other than 0-9"), ("１２", "digits other than 0-9"), ("-3", "negative"), ("1e3", "whole number"),
    ("", "whole number"), ("3.0", "whole number"), (str(2**63), "at most"), ("9" * 10_000, "at most"),
])
def test_parse_count_refuses(text, says):
    assert says in refused(parse_count, text, "n")


def test_counts_in_filters_take_ascii_digits_only():
    assert parse_filters({"payments_min": "12"}).payments_min == 12
    for bad in ("١٢", "１２", "१२"):
        assert "digits other than 0-9" in refused(parse_filters, {"payments_min": bad})
        assert "digits other than 0-9" in refused(parse_filters, {"ltv_min": bad, "currency": "USD"})
    assert "at most" in refused(parse_filters, {"payments_max": str(2**64)})


def test_a_blocked_bin_is_ascii_digits():
    assert blocklist.normalise(blocklist.BlocklistKind.BIN, "424242") == "424242"
    assert "BIN" in refused(blocklist.normalise, blocklist.BlocklistKind.BIN, "٤٢٤٢٤٢")


# --- emails ----------------------------------------------------------------------------------------------------------

BAD_EMAILS = {
    "a@b.c": "top-level domain",
    "a@b.c0m": "top-level domain",
    "a@b.c-m": "top-level domain",
    "a@b.123": "",
    "x" * 65 + "@example.com": "longer than 64 bytes",
    "é" * 33 + "@example.com": "longer than 64 bytes",
    "a..b@c.com": "two periods",
    ".a@b.com": "start with a period",
    "a.@b.com": "period immediately before",
    "bad\udcff@example.com": "not valid UTF-8",
}


@pytest.mark.parametrize("address", list(BAD_EMAILS))
def test_normalized_email_refuses(address):
    with pytest.raises(ValueError, match=BAD_EMAILS[address] or "."):
        normalized_email(address)


@pytest.mark.parametrize("address, normal", [
    ("x" * 64 + "@example.com", "x" * 64 + "@example.com"), ("a@b.co", "a@b.co"),
    ("Ann@Example.COM", "Ann@example.com"),
    ("a@b.xn--p1ai", "a@b.рф"), ("a@b.рф", "a@b.рф"), ("josé@münchen.de", "josé@münchen.de"),
])
def test_normalized_email_keeps_real_addresses(address, normal):
    assert normalized_email(address) == normal


@pytest.mark.parametrize("address", [a for a in BAD_EMAILS if "\udcff" not in a])
def test_bad_emails_refused_for_customers_and_blocklists(store, admin, address):
    draft = customer_input(external_id="E-1", emails=[ContactInput(address)])
    assert "emails[0]" in refused(records.create_customer, store, admin, draft)
    assert refused(blocklist.add_entry, store, admin, "email", address).startswith("value: ")
    with pytest.raises(NotFound):
        records.get_customer(store, admin, "E-1")
    assert blocklist.list_entries(store, admin, include_inactive=True) == []


@pytest.mark.parametrize("address", ["a@b.c", "a@b.c0m", "x" * 65 + "@example.com", "a..b@c.com", ".a@b.com",
                                     "a.@b.com"])
def test_bad_emails_refused_as_notify_addresses(store, admin, address):
    from agentdesk.services.policy import service as policy

    message = refused(policy.set_policy, store, admin, "notify_emails", f"ops@example.com, {address}")
    assert "is not an email address" in message
    policy.set_policy(store, admin, "notify_emails", "ops@example.com, ann@münchen.de")
    with store.read() as session:
        assert policy.notify_emails(session) == ("ops@example.com", "ann@münchen.de")


# --- free text -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, multiline, says", [
    ("bad\udcff", False, "not valid UTF-8"), ("\ud800", True, "not valid UTF-8"), ("a\x00b", True, "NUL"),
    ("a\x1b[2Jb", False, "U+001B"), ("a\x9bb", True, "U+009B"), ("a\x85b", False, "U+0085"), ("a\x7f", False, "U+007F"),
    ("a\nb", False, "U+000A"), ("a\tb", False, "U+0009"), ("a\rb", True, "U+000D"),
])
def test_check_text_refuses(value, multiline, says):
    message = refused(check_text, value, "reason", multiline=multiline)
    assert message.startswith("reason: ") and says in message


def test_check_text_accepts_and_limits():
    assert check_text("line\n\tindented", "note", multiline=True) == "line\n\tindented"
    odd = "\u202eRTL \u200d [red]x[/red] ' OR 1=1 -- %_"
    assert check_text(odd, "name") == odd
    assert check_text("x" * 10, "name", limit=10) == "x" * 10
    assert "longer than 10" in refused(check_text, "x" * 11, "name", limit=10)
    assert text_problem(3) == "must be text"  # type: ignore[arg-type]


def test_visible_escapes_what_could_drive_or_reorder_a_terminal():
    assert visible("a\x1b]52;c;ZXZpbA==\x07b") == "a\\x1b]52;c;ZXZpbA==\\x07b"
    assert visible("\x9b31m\x85\x7f") == "\\x9b31m\\x85\\x7f"
    assert visible("abc\u202edef\u2066x\u2069") == "abc\\u202edef\\u2066x\\u2069"
    assert visible("bad\udcff") == "bad\\udcff"
    assert visible("zwj\u200d ok é 😀") == "zwj\u200d ok é 😀"
    assert visible(visible("\x1b\u202e")) == visible("\x1b\u202e"), "escaping twice changes nothing"


# --- CSV cells -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["＝1+1", "＋44", "－5", "＠SUM(A1)", "=1", "+1", "-1", "@x", "\t=1", "\r=1"])
def test_csv_cells_that_start_like_formulas_are_neutralised(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["Ada", "1=1", "a＝b", "", "'quoted"])
def test_other_csv_cells_stay(value):
    assert neutralise(value) == value


@pytest.mark.parametrize("uid", ["²", "١٠٠٠", "１０００"])
def test_a_sudo_uid_in_other_digits_is_not_believed(monkeypatch, uid):
    from agentdesk.services.agents import identity

    monkeypatch.setenv("SUDO_USER", "root")
    monkeypatch.setenv("SUDO_UID", uid)
    assert identity.sudo_login([]) is None
