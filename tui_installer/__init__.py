"""tui-installer: a text-mode installer for a real OpenStack cloud.

Layout: the engine (this package), `cli` (the command line), `ops` (step-side helpers the recipes run on a
host; they never import the engine) and `screens` (all Textual code: app, screens, widgets). The engine never
imports Textual.
"""

__version__ = "0.1.0"
