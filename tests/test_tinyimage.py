"""The tiny guest image (tests/scripts/tinyimage.py) that the libvirt tests upload to Glance: built here from
apt's kernel and busybox, and proven to boot for real under QEMU TCG from its qcow2 on a virtio disk, get a
DHCP lease on a virtio NIC and read its uuid and user-data from 169.254.169.254 (QEMU user-net's DHCP; the
metadata answered by tests/scripts/fakemetadata.py through `guestfwd`, so no packet leaves QEMU)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from scripts import tinyimage

SCRIPTS = Path(__file__).parent / "scripts"
HUNG = 300  # seconds: ~10-25 s on a loaded 2-core TCG host; past this the guest is hung, not slow



def need_builder() -> None:
    try:
        tinyimage.find_kernel()
    except tinyimage.BuildError as e:
        pytest.skip(str(e))
    for tool in ("sfdisk", "mformat", "mcopy", "syslinux", "qemu-img"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} missing (.ci/run installs {' '.join(tinyimage.APT_PACKAGES)})")


def test_parse_console_reads_the_lines_the_image_prints() -> None:
    text = ("[ 0.1] noise\r\nTINY-BOOT-OK kernel=6.1.0\r\n"
            "TINY-LEASE iface=eth0 ip=10.0.0.5/26 router=10.0.0.1 lease=86400\r\n"
            "TINY-LEASE iface=eth1 ip=192.0.2.9/24 router=none lease=600\r\n"
            "META-UUID=0B3F3A2E-1111-4222-8333-944445555666\r\nTINY-READY\r\n")
    console = tinyimage.parse_console(text)
    assert console.booted and console.ready and not console.meta_failed
    assert console.leases == {"eth0": "10.0.0.5", "eth1": "192.0.2.9"}
    assert console.meta_uuid == "0b3f3a2e-1111-4222-8333-944445555666"
    empty = tinyimage.parse_console("SeaBIOS\r\nBooting from Hard Disk...\r\nMETA-FAIL wget: timed out\r\n")
    assert not empty.booted and empty.leases == {} and empty.meta_uuid is None and empty.meta_failed


def test_fake_metadata_answers_one_request_on_stdin(tmp_path: Path) -> None:
    (tmp_path / "ud").write_bytes(b"#!/bin/sh\necho hi\n")
    uid = str(uuid.uuid4())

    def ask(path: str) -> bytes:
        return subprocess.run([sys.executable, str(SCRIPTS / "fakemetadata.py"), uid, str(tmp_path / "ud")],
                              input=f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), capture_output=True,
                              check=True).stdout

    head, _, body = ask("/openstack/latest/meta_data.json").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and json.loads(body)["uuid"] == uid
    assert ask("/openstack/latest/user_data").endswith(b"\r\n\r\n#!/bin/sh\necho hi\n")
    assert ask("/latest/nothing").startswith(b"HTTP/1.0 404")


def test_virtio_modules_come_with_their_dependencies_first() -> None:
    need_builder()
    names = [p.name.split(".ko")[0] for p in tinyimage.module_files(tinyimage.find_kernel())]
    for module in ("virtio_pci", "virtio_blk", "virtio_net"):
        assert module in names
        assert names.index("virtio") < names.index(module) and names.index("virtio_ring") < names.index("virtio")
    assert names.index("failover") < names.index("net_failover") < names.index("virtio_net")


def test_image_is_built_once_per_content(tmp_path: Path) -> None:
    need_builder()
    first = tinyimage.build(tmp_path / "a.qcow2", cache_dir=tmp_path / "cache")
    again = tinyimage.build(tmp_path / "b.qcow2", cache_dir=tmp_path / "cache")
    assert not first.cached and again.cached and again.qcow2 == first.qcow2
    assert (tmp_path / "a.qcow2").read_bytes() == (tmp_path / "b.qcow2").read_bytes()
    assert len(list((tmp_path / "cache").iterdir())) == 1
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(first.qcow2)], check=True,
                                     capture_output=True, text=True).stdout)
    assert info["format"] == "qcow2" and info["virtual-size"] == tinyimage.DISK_MIB * 1024 * 1024
    assert first.qcow2.stat().st_size < 16 * 1024 * 1024
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(first.qcow2), str(tmp_path / "raw")],
                   check=True)
    raw = (tmp_path / "raw").read_bytes()[:512]
    assert raw[510:512] == b"\x55\xaa" and raw[446] == 0x80  # an MBR whose one partition is bootable


def test_image_boots_under_qemu_tcg_to_lease_metadata_and_user_data(tmp_path: Path) -> None:
    need_builder()
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 missing (.ci/run installs qemu-system-x86)")
    image = tinyimage.build().qcow2
    uid = str(uuid.uuid4())
    (tmp_path / "user-data").write_text("#!/bin/sh\necho USERDATA-SAYS $(ip -4 -o addr | wc -l) addresses\n"
                                        "exit 7\n")
    console = tmp_path / "console.log"
    argv = tinyimage.qemu_argv(console, tinyimage.user_netdev(uid, tmp_path / "user-data"), disk=image)
    qemu = subprocess.Popen(["nice", "-n", "10", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        text = wait_for(console, qemu, tinyimage.READY)
        time.sleep(3)
        assert qemu.poll() is None, "the guest must stay up after TINY-READY (a floating IP is pinged later)"
    finally:
        qemu.kill()
        qemu.wait()
    facts = tinyimage.parse_console(text)
    assert facts.booted, text
    assert facts.leases == {"eth0": "169.254.0.15"}, text
    assert facts.meta_uuid == uid, text
    assert "USERDATA-SAYS 2 addresses" in text and "USERDATA-END rc=7" in text, text


def wait_for(console: Path, qemu: subprocess.Popen[bytes], line: str) -> str:
    deadline = time.monotonic() + HUNG
    text = ""
    while time.monotonic() < deadline and qemu.poll() is None:
        text = console.read_text(errors="replace") if console.exists() else ""
        if line in text:
            return text
        time.sleep(0.5)
    stderr = qemu.stderr.read().decode(errors="replace") if qemu.poll() is not None and qemu.stderr else ""
    pytest.fail(f"no {line!r} on the console within {HUNG} s (qemu rc={qemu.poll()} {stderr}):\n{text}")
