"""AgentDesk: a keyboard-driven terminal console for subscription-billing support agents."""

__version__ = "0.1.0"
