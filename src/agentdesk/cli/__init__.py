"""The `agentdesk` command line, on click: one module per noun, loaded when its command runs."""

from agentdesk.cli.root import main, run

__all__ = ["main", "run"]
