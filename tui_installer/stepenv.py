"""Quiet, non-interactive defaults for the tools steps run: nobody is there to answer, and the output
goes to a log, not to a terminal.

apt has no environment variable for its options, but reads the file named by ``APT_CONFIG`` *before*
``/etc/apt/apt.conf.d`` (apt.conf(5)): so these are defaults the host's own configuration still
overrides. They make ``apt-get`` assume ``-y``, print plain progress (no fancy bar, no colour, quiet
download meter), keep existing config files on upgrades instead of asking (``--force-confold``), and
wait up to a minute for the dpkg lock (a fresh Ubuntu host runs unattended-upgrades right after boot).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading

QUIET_ENV: dict[str, str] = {
    "DEBIAN_FRONTEND": "noninteractive",
    "APT_LISTCHANGES_FRONTEND": "none",
    "NEEDRESTART_MODE": "a",
    "PIP_PROGRESS_BAR": "off",
    "PIP_NO_COLOR": "1",
    "PIP_NO_INPUT": "1",
    "PYTHONUNBUFFERED": "1",
    "PAGER": "cat",
    "SYSTEMD_PAGER": "cat",
}

APT_CONF = """\
// written by tui-installer for the steps it runs (APT_CONFIG); /etc/apt/apt.conf.d overrides it
APT::Get::Assume-Yes "true";
quiet "1";
APT::Color "0";
Dpkg::Progress-Fancy "0";
Binary::apt::Dpkg::Progress-Fancy "0";
Binary::apt::APT::Color "0";
Dpkg::Use-Pty "0";
Dpkg::Lock::Timeout "60";
Dpkg::Options { "--force-confdef"; "--force-confold"; };
"""

_lock = threading.Lock()
_apt_conf_path: str | None = None


def apt_config() -> str:
    """The path of the apt defaults file, written once per process (removed at exit)."""
    global _apt_conf_path
    with _lock:
        if _apt_conf_path is None or not os.path.exists(_apt_conf_path):
            folder = tempfile.mkdtemp(prefix="tui-installer-apt-")
            os.chmod(folder, 0o755)  # apt may drop privileges to read it (the _apt user)
            path = os.path.join(folder, "quiet.conf")
            with open(path, "w") as handle:
                handle.write(APT_CONF)
            os.chmod(path, 0o644)
            atexit.register(shutil.rmtree, folder, True)
            _apt_conf_path = path
        return _apt_conf_path


def quiet_env(base: dict[str, str]) -> dict[str, str]:
    """``QUIET_ENV`` plus ``APT_CONFIG``, unless the operator already points apt at a file."""
    env = dict(QUIET_ENV)
    if "APT_CONFIG" not in base:
        env["APT_CONFIG"] = apt_config()
    return env
