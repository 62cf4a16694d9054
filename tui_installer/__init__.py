"""tui-installer: a text-mode installer for a real OpenStack cloud.

The engine (everything in this package except ``app`` and ``screens``) never imports Textual.
"""

__version__ = "0.1.0"
