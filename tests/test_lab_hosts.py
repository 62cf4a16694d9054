"""The lab hosts themselves (tests/lab/labhosts.py): real servers in namespaces, reached over real SSH.

Each host answers ssh with the generated key and its own host key (StrictHostKeyChecking), has its own
name and address in the lab range, the controller runs systemd as PID 1 and is ``running``, the package
registries answer from inside; ``up`` over a live or crashed lab starts clean, ``down`` leaves nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lab import labhosts
from lab.fixture import Lab

pytestmark = pytest.mark.lab


def test_each_host_answers_ssh_with_its_own_name_address_and_init(lab: Lab) -> None:
    assert [h.name for h in lab.hosts] == ["lab1", "lab2", "lab3"]
    for host in lab.hosts:
        out = lab.ssh(host.name, "hostname; ip -4 -o addr show dev eth0; cat /proc/1/comm").stdout.split("\n")
        assert out[0] == host.name
        assert f"inet {host.address}/24" in out[1]
        assert out[2] == ("systemd" if host.init == "systemd" else "sshd"), out
    assert [h.init for h in lab.hosts] == ["systemd", "systemd", "sshd"]


def test_systemd_host_is_running_with_sshd_as_a_unit(lab: Lab) -> None:
    state = lab.ssh("lab1", "systemctl is-system-running --wait", check=False).stdout.strip()
    assert state == "running", lab.ssh("lab1", "systemctl --failed --no-legend", check=False).stdout
    assert lab.ssh("lab1", "systemctl is-active ssh.service").stdout.strip() == "active"
    # a unit started on demand runs and its output reaches journald
    lab.ssh("lab1", "systemd-run --wait --unit lab-probe sh -c 'echo lab-probe-ran'")
    assert "lab-probe-ran" in lab.ssh("lab1", "journalctl -u lab-probe --no-pager").stdout


def test_a_host_key_it_does_not_hold_is_refused(lab: Lab, tmp_path: Path) -> None:
    """ssh checks each host against the key the lab generated for it: lab2's key does not pass for lab1."""
    known = (lab.dir / "known_hosts").read_text().splitlines()
    lab2_key = next(line for line in known if line.startswith(lab.hosts[1].address)).split(" ", 1)[1]
    (tmp_path / "known").write_text(f"{lab.hosts[0].address} {lab2_key}\n")
    result = subprocess.run(["ssh", "-F", str(lab.dir / "ssh_config"), "-o", f"UserKnownHostsFile={tmp_path}/known",
                             "lab1", "true"], capture_output=True, text=True)
    assert result.returncode == 255 and "HOST IDENTIFICATION HAS CHANGED" in result.stderr, result.stderr


def test_registries_answer_inside_each_host(lab: Lab) -> None:
    lab.ssh("lab2", "apt-get update -q")
    policy = lab.ssh("lab2", "apt-cache policy python3-venv").stdout
    assert "Candidate: 3." in policy, policy
    code = lab.ssh("lab3", "python3 -c \"import urllib.request as u; "
                   "print(u.urlopen('https://pypi.org/simple/pip/', timeout=20).status)\"").stdout.strip()
    assert code == "200"


def test_up_over_a_live_lab_then_down_leaves_nothing_and_down_twice_is_fine(lab: Lab) -> None:
    """A previous run that died leaves hosts, namespaces and the nft table behind: ``up`` clears them first;
    ``down`` removes every trace (but the cached root filesystem) and restores ip_forward."""
    forward_before = labhosts.status()
    assert forward_before["up"]
    saved_forward = __import__("json").loads((lab.dir / "state.json").read_text())["ip_forward"]
    old_pids = [p.read_text().strip() for p in (lab.dir / "hosts").glob("*/launcher.pid")]
    labhosts.up(2, sshd_only=0)  # over the live lab: as after a crash
    assert subprocess.run(["ps", "-p", ",".join(old_pids)], capture_output=True).returncode == 1, "old hosts live on"
    assert lab.ssh("lab2", "cat /proc/1/comm").stdout.strip() == "systemd"
    labhosts.down(quiet=True)
    try:
        assert not [n for n in _run("ip", "netns", "list").split("\n") if n.startswith(labhosts.PREFIX + "-")]
        assert _run("ip", "-o", "link", "show", labhosts.UPLINK, check=False) == ""
        assert f"table ip {labhosts.NFT_TABLE}\n" not in _run("nft", "list", "tables") + "\n"
        assert labhosts.LAB_RANGE not in _run("ip", "route")
        if not labhosts.other_labs():  # a lab with another id (TUI_INSTALLER_LAB_ID) still needs forwarding
            assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == saved_forward
        assert not labhosts.CGROUP_ROOT.exists()
        assert str(lab.dir) not in Path("/proc/self/mounts").read_text()
        assert not lab.dir.exists()  # hosts, keys, inventory, state: all gone
        assert (Path(labhosts.status()["rootfs"]) / ".lab-complete").exists()  # the cache stays
        assert f"{lab.dir}/hosts" not in _run("ps", "-eo", "args")  # no launcher of this lab lives on
        labhosts.down(quiet=True)  # twice: nothing to do, no error
    finally:
        lab.hosts[:] = labhosts.up(3, sshd_only=1)  # the session's lab, for the tests after this one


def _run(*argv: str, check: bool = True) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_systemd_host_reboots_with_what_it_had_enabled(lab: Lab) -> None:
    """Stopped as a server is (systemd's poweroff) and started again from its own layer: an enabled unit
    starts by itself at boot, a file written before is still there, the boot is a new one."""
    unit = ("[Unit]\nDescription=lab boot marker\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            "ExecStart=/bin/sh -c 'date +%%s >> /var/tmp/marker-boots'\n[Install]\nWantedBy=multi-user.target\n")
    lab.ssh("lab1", f"cat > /etc/systemd/system/lab-marker.service <<'END'\n{unit}END\n"
                    "systemctl enable --now lab-marker && echo kept > /root/kept")
    assert lab.ssh("lab1", "wc -l < /var/tmp/marker-boots").stdout.strip() == "1"
    host = lab.hosts[0]
    took = labhosts.stop(host)
    assert took < 30 and labhosts.init_pid(host) is None
    assert subprocess.run([*labhosts.ssh_argv("lab1", lab.dir), "true"], capture_output=True).returncode == 255
    labhosts.start(host)
    assert lab.ssh("lab1", "systemctl is-system-running --wait", check=False).stdout.strip() == "running"
    assert lab.ssh("lab1", "systemctl is-active lab-marker").stdout.strip() == "active"
    assert lab.ssh("lab1", "wc -l < /var/tmp/marker-boots").stdout.strip() == "2"  # ran again at boot
    assert lab.ssh("lab1", "cat /root/kept").stdout.strip() == "kept"
