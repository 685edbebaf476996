"""Textual only: screens, dialogs, widgets and the shared base."""
