"""Where the log lines of the app and the services go.

Every module logs to `logging.getLogger(__name__)`, all below the `agentdesk`
logger, which this module configures once per run:

- `log_file` set: lines go to that file (rotated at 5 MiB, three kept, created
  0600 since they may name customers), at DEBUG with `debug` else INFO.
- no `log_file`: nothing is written anywhere. The console owns the terminal, so
  even errors must not reach stderr (Python's last-resort handler would print
  them over the screen). The one exception: a headless command (anything but the
  console) run with `--debug` and no log file logs to stderr, so
  `agentdesk --debug customers search …` shows what it did. The caller says
  which it is (`headless=True`); the default is the console's silence.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentdesk.config import Settings

ROOT = "agentdesk"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(process)d] %(message)s"
MAX_BYTES = 5 * 2**20
BACKUPS = 3

_installed: list[logging.Handler] = []


class _PrivateFileHandler(RotatingFileHandler):
    """A rotating file created readable by its owner only."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def configure(settings: Settings, *, headless: bool = False) -> None:
    """Send the `agentdesk` loggers where `settings` says; calling it again replaces what it set up before.

    `headless=True` (commands other than the console) lets `debug` without a log
    file write to stderr.
    """
    logger = logging.getLogger(ROOT)
    for old in _installed:
        logger.removeHandler(old)
        old.close()
    _installed.clear()

    handler: logging.Handler
    if settings.log_file is not None:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = _PrivateFileHandler(settings.log_file, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    elif settings.debug and headless:
        handler = logging.StreamHandler(sys.stderr)
    else:
        # A handler that drops everything keeps the last-resort stderr handler away; propagation stays on so
        # whoever configured the root logger (pytest's caplog) still sees the lines.
        logger.addHandler(_remember(logging.NullHandler()))
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        return
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(_remember(handler))
    logger.setLevel(logging.DEBUG if settings.debug else logging.INFO)
    logger.propagate = False
    logger.info("logging at %s", "DEBUG" if settings.debug else "INFO")


def _remember(handler: logging.Handler) -> logging.Handler:
    _installed.append(handler)
    return handler
