"""Billing periods: adding a plan's interval to a date, the way customers expect a calendar to work.

A monthly subscription started on the 31st renews on the last day of shorter
months and back on the 31st after them: the day of the month it started on
(the anchor) is kept, and clamped to the month's length only where needed.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from agentdesk.domain.enums import PlanInterval
from agentdesk.domain.errors import InvalidInput

MAX_INTERVAL_COUNT = {PlanInterval.DAY: 3650, PlanInterval.WEEK: 520, PlanInterval.MONTH: 120, PlanInterval.YEAR: 10}
"""The longest period each unit may make: ten years."""


def add_months(start: date, months: int, anchor_day: int | None = None) -> date:
    """`start` plus `months`, on `anchor_day` (default: start's day), clamped to the target month's last day."""
    day = anchor_day or start.day
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day, last))


def add_interval(start: date, interval: PlanInterval, count: int = 1, anchor_day: int | None = None) -> date:
    """The end of one period of `count` × `interval` that begins on `start` (the next period's first day)."""
    if interval is PlanInterval.ONE_TIME:
        raise InvalidInput(fields={"interval": "a one-time price has no billing period"})
    if count < 1:
        raise InvalidInput(fields={"interval_count": "must be at least 1"})
    if interval is PlanInterval.DAY:
        return start + timedelta(days=count)
    if interval is PlanInterval.WEEK:
        return start + timedelta(weeks=count)
    months = count if interval is PlanInterval.MONTH else 12 * count
    return add_months(start, months, anchor_day)


def check_interval(interval: PlanInterval, count: int, field: str = "interval_count") -> None:
    if interval is PlanInterval.ONE_TIME:
        return
    high = MAX_INTERVAL_COUNT[interval]
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= high:
        raise InvalidInput(fields={field: f"must be a whole number from 1 to {high} for a {interval.value} period"})


def describe_interval(interval: PlanInterval, count: int) -> str:
    """"monthly", "every 3 months", "once"."""
    if interval is PlanInterval.ONE_TIME:
        return "once"
    if count == 1:
        return {PlanInterval.DAY: "daily", PlanInterval.WEEK: "weekly", PlanInterval.MONTH: "monthly",
                PlanInterval.YEAR: "yearly"}[interval]
    return f"every {count} {interval.value}s"


def days_between(start: date, end: date) -> int:
    return (end - start).days
