"""`agentdesk subscriptions trial ORDER restart|skip|stop` through `main()`, on both databases: the preview
writes nothing, restart moves the trial end, skip bills the first cycle now, stop schedules the end."""

import json
from datetime import date, timedelta

from sqlalchemy import func, select

from agentdesk.db.models import Invoice, Order, TimelineEvent

from .conftest import run_cli
from .test_cli_subscriptions import shop  # noqa: F401  (fixture)


def trial_order(store, capsys) -> str:
    code, out, err = run_cli(capsys, "--db", store.url, "orders", "create", "C-1", "--plan", "basic-m",
                             "--trial-days", "10", "--json")
    assert code == 0 and json.loads(out)["total_today"] == 0, err
    return json.loads(out)["order"]


def order_row(store, number) -> Order:
    with store.read() as s:
        return s.execute(select(Order).where(Order.number == number)).scalar_one()


def types(store) -> list[str]:
    with store.read() as s:
        return list(s.execute(select(TimelineEvent.type).order_by(TimelineEvent.id)).scalars())


def invoices_of(store, number) -> int:
    order_id = order_row(store, number).id
    with store.read() as s:
        return s.execute(select(func.count()).select_from(Invoice).where(Invoice.order_id == order_id)).scalar_one()


def test_trial_restart_skip_and_stop_on_the_command_line(shop, capsys):  # noqa: F811
    store, _ = shop
    today = date.today()
    restarted, skipped, stopped = (trial_order(store, capsys) for _ in range(3))
    assert order_row(store, restarted).trial_ends_on == today + timedelta(days=10)

    code, out, err = run_cli(capsys, "--db", store.url, "subscriptions", "trial", restarted, "restart", "--preview",
                             "--json")
    assert code == 0 and json.loads(out)["preview"] is True, err
    assert "trial_restarted" not in types(store)
    code, out, err = run_cli(capsys, "--db", store.url, "subscriptions", "trial", restarted, "restart")
    assert code == 0, err
    assert "trial_restarted" in types(store) and order_row(store, restarted).trial_ends_on is not None

    before = invoices_of(store, skipped)
    code, out, err = run_cli(capsys, "--db", store.url, "subscriptions", "trial", skipped, "skip", "--json")
    assert code == 0 and json.loads(out)["payment"] == "approved", err
    assert invoices_of(store, skipped) == before + 1 and "trial_skipped" in types(store)
    code, out, err = run_cli(capsys, "--db", store.url, "subscriptions", "trial", skipped, "restart")
    assert code != 0 and "not in a trial" in err and len(err.strip().splitlines()) == 1

    code, out, err = run_cli(capsys, "--db", store.url, "subscriptions", "trial", stopped, "stop")
    assert code == 0, err
    assert "trial_stop_scheduled" in types(store) and order_row(store, stopped).status == "active"
