"""The session's lab hosts for tests: three hosts (lab1 systemd, the controller; lab2 systemd and lab3 sshd
alone, compute), brought up once per test session and removed at its end (tests/lab/labhosts.py). The
root filesystem is built once into its cache (keyed by its recipe) and reused by every later session."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import labhosts


@dataclass
class Lab:
    dir: Path
    hosts: list[labhosts.Host]

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.ini"

    def ssh(self, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*labhosts.ssh_argv(host, self.dir), command], capture_output=True, text=True,
                                timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"{host}: {command}: exit {result.returncode}: {result.stderr}")
        return result

    def upper(self, host: str) -> Path:
        """Every file written on the host since it started (its overlay's upper layer)."""
        return self.dir / "hosts" / host / "upper"


def lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "lab hosts need root (namespaces, mounts, nft)"
    for tool in ("debootstrap", "nft", "unshare", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            return f"lab hosts need {tool} (.ci/run installs debootstrap, nftables, openssh-client)"
    if not Path("/sys/fs/cgroup/unified").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "lab hosts need a cgroup2 mount"
    return None


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    missing = lab_missing()
    if missing:
        pytest.skip(missing)
    hosts = labhosts.up(3, sshd_only=1)
    try:
        yield Lab(labhosts.lab_dir(), hosts)
    finally:
        labhosts.down(quiet=True)
