"""The first networks' helper (ops.networks) and what it publishes for the summary, without a cloud:
range checks refuse a bad layout before anything is created; the published file reads back typed; the
summary lists the public network, the router and the way in, and warns when groups are not enforced."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from tui_installer.screens.summary import networks_text

from tui_installer.ops import networks
from tui_installer.statedir import StateDir

GOOD = {"public_cidr": "198.18.0.0/24", "public_gateway": "198.18.0.1",
        "floating_range": "198.18.0.100-198.18.0.199", "private_cidr": "198.19.0.0/24"}


def ns(**changes: str) -> argparse.Namespace:
    return argparse.Namespace(**{**GOOD, **changes})


def test_ranges_are_checked_before_anything_is_created() -> None:
    assert networks.check_ranges(ns()) is None
    assert "not a range inside" in str(networks.check_ranges(ns(floating_range="198.18.0.200-198.18.0.100")))
    assert "not a range inside" in str(networks.check_ranges(ns(floating_range="198.18.0.100-203.0.114.1")))
    assert "outside the floating range" in str(networks.check_ranges(ns(public_gateway="198.18.0.150")))
    assert "outside the floating range" in str(networks.check_ranges(ns(public_gateway="192.0.2.1")))
    assert "overlaps" in str(networks.check_ranges(ns(private_cidr="198.18.0.128/25")))
    assert "expected FIRST-LAST" in str(networks.check_ranges(ns(floating_range="198.18.0.100")))


def test_a_bad_range_exits_2_with_one_line_and_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "networks.json"
    done = subprocess.run([sys.executable, "-m", "tui_installer.ops.networks", "--auth-url", "http://127.0.0.1:9/v3",
                           "--public-cidr", "198.18.0.0/24", "--public-gateway", "198.18.0.150",
                           "--floating-range", "198.18.0.100-198.18.0.199", "--private-cidr", "198.19.0.0/24",
                           "--publish", str(out), "--venv", sys.prefix], capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not out.exists()


def test_skip_publishes_only_the_security_group_facts(tmp_path: Path) -> None:
    out = tmp_path / "networks.json"
    done = subprocess.run([sys.executable, "-m", "tui_installer.ops.networks", "--auth-url", "http://127.0.0.1:9/v3",
                           *[f"--{k.replace('_', '-')}={v}" for k, v in GOOD.items()], "--skip",
                           "--firewall-driver", "noop", "--publish", str(out), "--venv", sys.prefix],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    nets = StateDir(tmp_path).networks()
    assert nets is not None and not nets.created and not nets.security_groups_enforced
    text = networks_text(nets)
    assert "none created" in text and "WARNING: security groups are NOT enforced" in text


def test_the_summary_says_how_to_reach_a_vm(tmp_path: Path) -> None:
    doc = {"public": {"name": "public", "id": "p", "cidr": "198.18.0.0/24", "gateway": "198.18.0.1",
                      "floating_range": ["198.18.0.100", "198.18.0.199"], "bridge": "br-ex"},
           "private": {"name": "private", "id": "q", "cidr": "198.19.0.0/24"},
           "router": {"name": "router1", "id": "r", "external_ip": "198.18.0.100", "namespace": "qrouter-r"},
           "security_groups": {"driver": "openvswitch", "enforced": True}}
    networks.publish(str(tmp_path / "networks.json"), doc)
    nets = StateDir(tmp_path).networks()
    assert nets is not None and nets.created and nets.namespace == "qrouter-r"
    text = networks_text(nets)
    assert "198.18.0.0/24 on br-ex" in text and "floating IPs 198.18.0.100-198.18.0.199" in text
    assert "router1  gateway 198.18.0.100" in text and "ip netns exec qrouter-r ping" in text
    assert "WARNING" not in text
    (tmp_path / "networks.json").write_text(json.dumps({"public": 1}))
    assert StateDir(tmp_path).networks() is None
