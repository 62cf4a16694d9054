"""Reusable Textual widgets of the TUI (phase list, resource panel). The engine never imports these."""
