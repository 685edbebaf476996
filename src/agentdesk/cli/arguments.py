"""What the command line accepts before any command runs: UTF-8 text, ASCII numbers.

Python hands undecodable bytes in `argv` to the program as lone surrogates
(surrogateescape); stored, they fail in the database or in the terminal later.
`CheckedContext` refuses them for every parameter of every command, naming the
parameter, before the command's callback runs, so nothing is written. `COUNT` and
`SECONDS` take only ASCII digits (`int()` would read Arabic-Indic or full-width digits too).
"""

from __future__ import annotations

import math
import re
from typing import Any

import click

from agentdesk.domain.errors import InvalidInput
from agentdesk.domain.limits import INT64_MAX
from agentdesk.domain.numbers import parse_count
from agentdesk.domain.text import has_surrogates


def _holds_surrogates(value: object) -> bool:
    if isinstance(value, str):
        return has_surrogates(value)
    if isinstance(value, (tuple, list)):
        return any(_holds_surrogates(item) for item in value)
    return False


def parameter_label(param: click.Parameter) -> str:
    """`--reason` for an option, `TEXT` for an argument: how the user wrote it."""
    return param.opts[0] if isinstance(param, click.Option) and param.opts else param.human_readable_name


class CheckedContext(click.Context):
    """A context that refuses a parameter value holding undecodable bytes before invoking the callback."""

    def invoke(self, callback: Any, /, *args: Any, **kwargs: Any) -> Any:
        for param in self.command.get_params(self):
            if param.name is not None and _holds_surrogates(self.params.get(param.name)):
                raise click.UsageError(f"{parameter_label(param)} is not valid UTF-8.", ctx=self)
        return super().invoke(callback, *args, **kwargs)


def check_arguments(command: click.Command) -> click.Command:
    """`command` and every subcommand under it parse into `CheckedContext`s."""
    command.context_class = CheckedContext
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            check_arguments(sub)
    return command


class Count(click.ParamType):
    """A whole number in ASCII digits, at most what a 64-bit column holds."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            field = param.name if param is not None and param.name else "value"
            return parse_count(str(value), field, maximum=INT64_MAX)
        except InvalidInput as exc:
            self.fail("; ".join(exc.fields.values()) or str(exc), param, ctx)


_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?")


class Seconds(click.ParamType):
    """A positive duration in seconds, written with ASCII digits and at most one decimal point."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float) and math.isfinite(value) and value > 0:
            return value
        text = str(value).strip()
        if not _SECONDS.fullmatch(text) or float(text) <= 0:
            self.fail(f"{text[:40]!r} is not a number of seconds (like 5 or 0.5)", param, ctx)
        return float(text)


class FilePath(click.Path):
    """`click.Path`, refusing a NUL byte before the file system is asked (where it would raise ValueError)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and "\x00" in value:
            self.fail("a file name cannot contain a NUL character", param, ctx)
        return super().convert(value, param, ctx)


COUNT = Count()
SECONDS = Seconds()
