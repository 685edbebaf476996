"""Agents: who is at the keyboard, and the agent table."""
