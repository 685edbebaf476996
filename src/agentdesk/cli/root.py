"""`agentdesk`: the console, and headless subcommands over the same services.

Global options come before the subcommand. Headless commands never prompt:
the command line is the confirmation. Results go to stdout (JSON with
`--json`); an error is one line on stderr and a non-zero exit status.

Subcommands live one module per noun and are imported only when used, so
`agentdesk --version` loads neither the services nor Textual.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agentdesk import __version__
from agentdesk.cli.arguments import CheckedContext, FilePath, check_arguments
from agentdesk.domain.text import visible

if TYPE_CHECKING:
    from agentdesk.config import Settings
    from agentdesk.db.store import Store
    from agentdesk.domain.permissions import Actor

EXIT_ERROR = 1
PRIVATE_UMASK = 0o077
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away (`... | head -1`)."""

SUBCOMMANDS: dict[str, str] = {
    "demo": "demo:demo",
    "db": "db:db",
    "agents": "agents:agents",
    "customers": "customers:customers",
    "export": "export:export",
    "segments": "segments:segments",
    "refund": "money:refund",
    "void": "money:void",
    "refund-order": "money:refund_order",
    "payout": "money:payout",
    "payout-requests": "payout_requests:payout_requests",
    "deposit-strategies": "deposit_strategies:deposit_strategies",
    "catalog": "catalog:catalog",
    "coupons": "coupons:coupons",
    "orders": "orders:orders",
    "subscriptions": "subscriptions:subscriptions",
    "quotes": "quotes:quotes",
    "links": "links:links",
    "fulfillments": "fulfillments:fulfillments",
    "invoices": "invoices:invoices",
    "charges": "charges:charges",
    "usage": "charges:usage",
    "affiliates": "affiliates:affiliates",
    "timeline": "timeline:timeline",
    "note": "timeline:note",
    "audit": "audit:audit",
    "policy": "policy:policy",
    "blocklist": "blocklist:blocklist",
    "worker": "worker:worker",
    "gateway": "worker:gateway",
    "portal": "portal:portal",
    "doctor": "doctor:doctor",
}
"""Subcommand → `module:attribute` under `agentdesk.cli`, in the order `--help` lists them."""


class CliError(Exception):
    """A command-line mistake found after parsing (an unknown segment, a limit out of range)."""


class Desk:
    """The context object: global options, and settings, store and actor made on first use."""

    def __init__(self, database_url: str | None, as_login: str | None, log_file: Path | None, debug: bool | None):
        self.database_url = database_url
        self.as_login = as_login
        self.log_file = log_file
        self.debug = debug
        self.headless = True
        """False when no subcommand was given and the console runs (logging then never touches the terminal)."""
        self._store: Store | None = None
        self._schema_checked = False

    @cached_property
    def settings(self) -> Settings:
        from agentdesk import logs
        from agentdesk.config import load_settings

        settings = load_settings(self.database_url, log_file=self.log_file, debug=self.debug)
        logs.configure(settings, headless=self.headless)
        return settings

    def raw_store(self, *, create: bool = False) -> Store:
        """The store without touching its schema (for `db upgrade`).

        Only `demo`, `db upgrade` and the console (whose first run offers the demo) pass `create`: any other
        command on a SQLite file that does not exist says so instead of making an empty store of a typo.
        """
        if self._store is None:
            from agentdesk.db.store import Store
            from agentdesk.services.deploy.files import refuse_exposed

            refuse_exposed(self.settings)
            check_sqlite_file(self.settings, create=create)
            self._store = Store(self.settings.database_url, key_file=self.settings.key_file,
                                data_dir=self.settings.data_dir)
            click.get_current_context().find_root().call_on_close(self._store.dispose)
        return self._store

    def store(self, *, create: bool = False) -> Store:
        """The store, checked to be at this version's schema (an embedded one is upgraded)."""
        store = self.raw_store(create=create)
        if not self._schema_checked:
            store.ensure_schema()
            self._schema_checked = True
        return store

    @cached_property
    def login(self) -> str:
        """The OS login at the keyboard: the agent sudo ran this for (on a jump host), else the real uid's account."""
        from agentdesk.services.agents import identity
        from agentdesk.services.deploy.files import service_paths

        return identity.acting_login(service_paths(self.settings))

    @cached_property
    def actor(self) -> Actor:
        """Who is at the keyboard: the OS login, or `--as` on a demo store."""
        from agentdesk.services.agents import identity

        return identity.resolve_actor(self.store(), self.login, as_login=self.as_login)


pass_desk = click.make_pass_decorator(Desk)


def check_sqlite_file(settings: Settings, *, create: bool) -> None:
    """Refuse a SQLite store in a directory that does not exist, or a missing store file unless `create`.

    The default store's directory (the data dir) is the one directory made on the way, by a command that may create.
    """
    from sqlalchemy.engine import make_url

    from agentdesk.config import sqlite_url

    parsed = make_url(settings.database_url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    path = Path(parsed.database).expanduser()
    try:
        if path.exists():
            return
        directory_missing = not path.parent.is_dir()
    except OSError:
        return  # not ours to look into: opening the store names the problem
    default = settings.database_url == sqlite_url(settings.data_dir / "agentdesk.db")
    if directory_missing and not (create and default):
        raise CliError(f"no such directory: {path.parent}")
    if not create:
        raise CliError(f"no store at {path}: create it with 'agentdesk --db {settings.database_url} db upgrade' "
                       "(or 'agentdesk --db … demo' for demo data)")


USER_ERRORS = (
    ("agentdesk.domain.errors", "ServiceError"),
    ("agentdesk.config", "ConfigError"),
    ("agentdesk.db.store", "StoreError"),
)
"""Errors shown as their message alone. Looked up among the loaded modules only: an error cannot be of a
class whose module was never imported, and the handler must not import (and so fail) itself."""


def failure_message(exc: Exception) -> str | None:
    """The one stderr line for an error a user can act on; None for a bug (which keeps its traceback)."""
    loaded = [getattr(sys.modules[module], name) for module, name in USER_ERRORS if module in sys.modules]
    if isinstance(exc, (CliError, *loaded)):
        return str(exc)
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.OperationalError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        return f"the database could not be used: {reason}"
    return None


class RootGroup(click.Group):
    """Loads subcommands on demand and turns expected failures into one stderr line and an exit status."""

    context_class = CheckedContext

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(f"agentdesk.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return check_arguments(command)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("agentdesk: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            ctx.exit(reader_gone())
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            message = failure_message(exc)
            if message is None:
                raise
            click.echo(f"agentdesk: {one_line(message)}", err=True)
            ctx.exit(EXIT_ERROR)


@click.group(
    cls=RootGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    subcommand_metavar="SUBCOMMAND [ARGS]...",
)
@click.version_option(__version__, "--version", prog_name="agentdesk", message="%(prog)s %(version)s")
@click.option("--db", "database_url", metavar="URL", help="database URL (sqlite:///PATH or postgresql+psycopg://...)")
@click.option("--as", "as_login", metavar="LOGIN", help="act as another agent (demo databases only)")
@click.option("--log-file", type=FilePath(dir_okay=False, path_type=Path), metavar="PATH",
              help="write the log to this file")
@click.option("--debug", is_flag=True, default=None, help="log debug detail")
@click.pass_context
def root(
    ctx: click.Context, database_url: str | None, as_login: str | None, log_file: Path | None, debug: bool | None
) -> int | None:
    """Keyboard-driven console for subscription-billing support agents.

    Without a subcommand it starts the console.
    """
    desk = ctx.obj = Desk(database_url, as_login, log_file, debug)
    if ctx.invoked_subcommand is None:
        desk.headless = False
        return run_console(desk)
    return None


def run_console(desk: Desk) -> int:
    from agentdesk.app import AgentDeskApp, FirstRun
    from agentdesk.services.agents import identity

    store = desk.store(create=True)
    if not identity.has_agents(store):
        AgentDeskApp(store, desk.settings, actor=None, first_run=FirstRun(desk.login)).run()
        return 0
    AgentDeskApp(store, desk.settings, actor=desk.actor).run()
    return 0


def one_line(message: str) -> str:
    """`message` as one line with every control character made visible: what stderr gets."""
    return visible(" ".join(message.splitlines()))


def usage_hint(exc: click.ClickException) -> str:
    """" Try 'agentdesk refund --help'." after a usage error, so one line says what went wrong and where to look."""
    ctx = exc.ctx if isinstance(exc, click.UsageError) else None
    if ctx is None or ctx.command.get_help_option(ctx) is None:
        return ""
    return f" Try '{visible(ctx.command_path)} --help'."


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status (the console script exits with it).

    Everything the run writes (store, WAL, key, outbox, attachments, logs,
    exports) is private to the account running it: the umask is set before
    anything is opened, and put back afterwards for callers in the same process.
    """
    previous = os.umask(PRIVATE_UMASK)
    try:
        return _main(argv)
    except BrokenPipeError:
        return reader_gone()
    finally:
        os.umask(previous)


def reader_gone() -> int:
    """Stop quietly when stdout's reader has closed the pipe, as Unix tools do.

    Whatever is still buffered for stdout can never be delivered; stdout is
    pointed at /dev/null so the interpreter's final flush does not raise again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    try:
        result = root.main(
            args=list(argv) if argv is not None else None, prog_name="agentdesk", standalone_mode=False
        )
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"agentdesk: {one_line(exc.format_message())}{usage_hint(exc)}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo("agentdesk: interrupted", err=True)
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        # click's shell completion (`_AGENTDESK_COMPLETE=bash_source`) answers and exits.
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())
