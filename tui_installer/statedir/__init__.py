"""The one owner of the state directory, the protocol between the engine and its clients.

Every path in it, the engine lock and its liveness probe, decision files, the newest-run lookup and typed
readers and writers of plans, journals, events, answers and the console log; and the checks that make
the directory safe for root to write into. No other module spells a name inside the state directory.
"""

from __future__ import annotations

from tui_installer.journal import DONE_REASONS, finished_verdict
from tui_installer.statedir.layout import (
    DEFAULT_STATE_DIR,
    PASSPHRASE_ENV,
    STATE_DIR_ENV,
    RunFiles,
    StateDir,
    default_path,
)
from tui_installer.statedir.lock import CHOICES, Decision, EngineLock
from tui_installer.statedir.published import CloudNetworks
from tui_installer.statedir.safety import write_private

# how a journal's step reads (a skip after a failure is not done) is part of the protocol: clients say it
__all__ = ["CHOICES", "CloudNetworks", "DEFAULT_STATE_DIR", "DONE_REASONS", "PASSPHRASE_ENV", "STATE_DIR_ENV",
           "Decision", "EngineLock", "RunFiles", "StateDir", "default_path", "finished_verdict", "write_private"]
