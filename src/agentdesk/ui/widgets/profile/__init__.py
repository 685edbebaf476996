"""The customer profile's panes: each shows its part of the customer and owns its keys.

The screen loads the customer once (`get_customer`) and hands the detail to the header,
overview and transactions panes; the compliance and timeline panes load their own data.
A pane that changed something posts `ProfileChanged`; the screen reloads what it names.
"""

from __future__ import annotations

from textual.message import Message


class ProfileChanged(Message):
    """Something on the customer changed: reload the detail and/or compliance; the timeline always
    (every change records an event)."""

    def __init__(self, detail: bool = True, compliance: bool = False) -> None:
        super().__init__()
        self.detail = detail
        self.compliance = compliance


def changed(result: object) -> bool:
    """A dialog's result means "something changed": anything but None (and, while dialogs still
    return bool, anything but False)."""
    return result is not None and result is not False
