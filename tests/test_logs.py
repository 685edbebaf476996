"""Where log lines go: the log file, stderr for headless debugging, else nowhere (the console owns the terminal)."""

import logging
import stat
import subprocess
import sys

import pytest

from agentdesk import logs
from agentdesk.config import Settings


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    logs.configure(Settings())


def test_log_file_gets_the_app_and_service_lines(tmp_path):
    path = tmp_path / "logs" / "agentdesk.log"
    logs.configure(Settings(log_file=path))
    logging.getLogger("agentdesk.services.money.refunds").info("refund %s sent", 42)
    logging.getLogger("agentdesk.ui").debug("not at INFO")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("agentdesk.ui").exception("worker failed")
    text = path.read_text()
    assert "INFO    agentdesk.services.money.refunds" in text and "refund 42 sent" in text
    assert "not at INFO" not in text
    assert "worker failed" in text and "Traceback" in text and "RuntimeError: boom" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_debug_lowers_the_level(tmp_path):
    path = tmp_path / "agentdesk.log"
    logs.configure(Settings(log_file=path, debug=True))
    logging.getLogger("agentdesk.ui").debug("a debug line")
    assert "DEBUG   agentdesk.ui" in path.read_text()


def test_configure_again_replaces_the_handler(tmp_path):
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    logs.configure(Settings(log_file=first))
    logs.configure(Settings(log_file=second))
    logging.getLogger("agentdesk.x").warning("only once")
    assert "only once" not in first.read_text() and second.read_text().count("only once") == 1


def test_headless_debug_without_a_file_logs_to_stderr(capsys):
    logs.configure(Settings(debug=True), headless=True)
    logging.getLogger("agentdesk.services.jobs.runner").debug("ran 3 jobs")
    assert "ran 3 jobs" in capsys.readouterr().err


def test_without_a_file_the_console_terminal_stays_clean():
    """Python's last-resort handler prints warnings and errors to stderr when no handler is set:
    over the console's screen. After configure() nothing reaches it."""
    script = ("import logging, sys\nfrom agentdesk import logs\nfrom agentdesk.config import Settings\n"
              "if sys.argv[1] == 'configured':\n    logs.configure(Settings(debug=True))\n"
              "logging.getLogger('agentdesk.ui').error('shown to the agent')\n")
    unconfigured = subprocess.run([sys.executable, "-c", script, "bare"], capture_output=True, text=True, check=True)
    assert "shown to the agent" in unconfigured.stderr
    configured = subprocess.run([sys.executable, "-c", script, "configured"], capture_output=True, text=True,
                                check=True)
    assert configured.stderr == "" and configured.stdout == ""
