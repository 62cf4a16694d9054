#!/usr/bin/env python3
"""A tiny bootable guest image, built here from what apt gives (no image can be downloaded on these hosts).

The host's Debian kernel (`linux-image-amd64`) plus an initramfs of `busybox-static` and the virtio modules
of that same kernel, packed as a disk a cloud accepts: an MBR with one bootable FAT partition filled with
mtools (no mount, no loop device) and made bootable by syslinux, converted to a compressed qcow2.

What the guest does, all on its serial console (`console=ttyS0,115200`), in greppable lines:
  TINY-BOOT-OK kernel=<release>                  init started (the boot marker)
  TINY-LEASE iface=<nic> ip=<addr>/<prefix> ...  udhcpc got a lease on that NIC (one line per NIC)
  META-UUID=<uuid>                               the instance uuid read from 169.254.169.254 (or META-FAIL)
  USERDATA-BEGIN ... USERDATA-END rc=<n>         the output of a `#!` user-data script, when there is one
  TINY-READY                                     done; the guest stays up (answers ping) and never powers off

Use: `python3 tests/scripts/tinyimage.py OUT.qcow2`, or from a test `tinyimage.build()` (the cached qcow2)
and `tinyimage.parse_console(text)`. Built once per content (kernel, busybox, this file) in a cache
directory ($TINYIMAGE_CACHE, default ~/.cache/tui-installer/tinyimage).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "TINY-BOOT-OK"
READY = "TINY-READY"
LEASE_RE = re.compile(r"TINY-LEASE iface=(\S+) ip=([0-9.]+)/(\d+)")
META_RE = re.compile(r"META-UUID=([0-9a-fA-F-]{36})")
METADATA_URL = "http://169.254.169.254/openstack/latest/meta_data.json"
USERDATA_URL = "http://169.254.169.254/openstack/latest/user_data"
MODULES = ("virtio_pci", "virtio_blk", "virtio_net")
APT_PACKAGES = ("linux-image-amd64", "busybox-static", "syslinux", "syslinux-common", "mtools", "fdisk",
                "qemu-utils")
BUSYBOX = Path("/bin/busybox")
SYSLINUX_MBR = Path("/usr/lib/syslinux/mbr/mbr.bin")
DISK_MIB = 24
PART_OFFSET = 1024 * 1024
CMDLINE = "console=tty0 console=ttyS0,115200 loglevel=4"

INIT = r"""#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null && exec </dev/console >/dev/console 2>&1
mkdir -p /tmp /run
for m in $(cat /etc/modules); do insmod "/lib/modules/$m" 2>/dev/null; done
echo "TINY-BOOT-OK kernel=$(uname -r)"
ip link set lo up
nics=0
for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" = lo ] && continue
    nics=$((nics + 1))
    ip link set "$n" up
    udhcpc -i "$n" -s /etc/udhcpc.sh -O staticroutes -O mtu -t 10 -T 3 -A 3 -f -n -q 2>&1 \
        || echo "TINY-NO-LEASE iface=$n"
done
[ "$nics" -eq 0 ] && echo "TINY-NO-NIC"
uuid=""
for try in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    rm -f /tmp/meta.json
    timeout 10 wget -q -O /tmp/meta.json "@METADATA_URL@" 2>/tmp/wget.err
    uuid=$(grep -o '"uuid": *"[0-9a-fA-F-]*"' /tmp/meta.json 2>/dev/null | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')
    [ -n "$uuid" ] && break
    sleep 3
done
if [ -n "$uuid" ]; then echo "META-UUID=$uuid"; else echo "META-FAIL $(tail -n 1 /tmp/wget.err)"; fi
if [ -n "$uuid" ] && timeout 10 wget -q -O /tmp/user-data "@USERDATA_URL@" 2>/dev/null \
        && [ "$(head -c 2 /tmp/user-data)" = "#!" ]; then
    chmod +x /tmp/user-data
    echo "USERDATA-BEGIN"
    /tmp/user-data
    echo "USERDATA-END rc=$?"
fi
echo "TINY-READY"
while :; do sleep 3600; done
"""

UDHCPC_SCRIPT = r"""#!/bin/sh
# busybox udhcpc calls this with deconfig|bound|renew; $mask is the prefix length.
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    if [ -n "$staticroutes" ]; then
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$interface"
            else ip route replace "$1" via "$2" dev "$interface"; fi
            shift 2
        done
    elif [ -n "$router" ] && ! ip route | grep -q '^default'; then
        set -- $router
        ip route replace default via "$1" dev "$interface"
    fi
    echo "TINY-LEASE iface=$interface ip=$ip/${mask:-24} router=${router:-none} lease=${lease:-?}"
    ;;
esac
exit 0
"""

SYSLINUX_CFG = f"""DEFAULT tiny
PROMPT 0
TIMEOUT 0
LABEL tiny
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND {CMDLINE}
"""


class BuildError(RuntimeError):
    """What is missing on this host to build the image, in one line."""


@dataclass(frozen=True)
class Kernel:
    release: str
    vmlinuz: Path
    modules: Path


@dataclass
class Console:
    """What a guest's console log says, parsed from the lines the image prints."""

    booted: bool = False
    leases: dict[str, str] = field(default_factory=dict)
    meta_uuid: str | None = None
    meta_failed: bool = False
    ready: bool = False


@dataclass(frozen=True)
class Built:
    qcow2: Path
    kernel: Path
    initrd: Path
    seconds: float
    cached: bool


def parse_console(text: str) -> Console:
    """The facts a test asserts, from a console log (`openstack console log show`, a QEMU serial file)."""
    console = Console(booted=MARKER in text, ready=READY in text, meta_failed="META-FAIL" in text)
    for iface, ip, _prefix in LEASE_RE.findall(text):
        console.leases[iface] = ip
    meta = META_RE.search(text)
    console.meta_uuid = meta.group(1).lower() if meta else None
    return console


def _version_key(release: str) -> list[int | str]:
    return [int(p) if p.isdigit() else p for p in re.split(r"[.-]", release)]


def find_kernel(release: str | None = None) -> Kernel:
    """A Debian kernel that has both its image in /boot and its modules (the running kernel may be neither)."""
    found = []
    for vmlinuz in Path("/boot").glob("vmlinuz-*"):
        rel = vmlinuz.name.removeprefix("vmlinuz-")
        modules = Path("/lib/modules") / rel
        if (modules / "modules.dep").is_file() and (release is None or rel == release):
            found.append(Kernel(rel, vmlinuz, modules))
    if not found:
        raise BuildError("no kernel with modules in /boot and /lib/modules: apt-get install linux-image-amd64")
    return max(found, key=lambda k: _version_key(k.release))


def module_files(kernel: Kernel, names: tuple[str, ...] = MODULES) -> list[Path]:
    """The .ko files for `names` and their dependencies, dependencies first (modules.dep order)."""
    deps: dict[str, list[str]] = {}
    for line in (kernel.modules / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
    by_name = {re.sub(r"\.ko(\.\w+)?$", "", Path(p).name).replace("-", "_"): p for p in deps}
    order: list[str] = []

    def visit(path: str) -> None:
        for dep in reversed(deps.get(path, [])):
            visit(dep)
        if path not in order:
            order.append(path)

    for name in names:
        if name not in by_name:
            builtin = (kernel.modules / "modules.builtin").read_text()
            if f"/{name}.ko" in builtin:
                continue
            raise BuildError(f"kernel {kernel.release} has no module {name}")
        visit(by_name[name])
    return [kernel.modules / p for p in order]


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".ko":
        return data
    raise BuildError(f"{path}: compressed module format busybox insmod cannot load")


class Cpio:
    """A newc archive written by hand: /dev/console must exist as a device node, which needs no root here."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.ino = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        self.ino += 1
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.out.write(header + name.encode() + b"\0")
        self._pad()
        self.out.write(data)
        self._pad()

    def _pad(self) -> None:
        self.out.write(b"\0" * (-self.out.tell() % 4))

    def finish(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return self.out.getvalue()


def initramfs(kernel: Kernel) -> bytes:
    if not BUSYBOX.is_file():
        raise BuildError(f"{BUSYBOX} missing: apt-get install busybox-static")
    archive = Cpio()
    for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "run", "lib", "lib/modules"):
        archive.add(d, 0o40755)
    archive.add("dev/console", 0o20600, rdev=(5, 1))
    archive.add("dev/null", 0o20666, rdev=(1, 3))
    archive.add("bin/busybox", 0o100755, BUSYBOX.read_bytes())
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            archive.add(f"bin/{applet}", 0o120777, b"busybox")
    names = []
    for ko in module_files(kernel):
        name = re.sub(r"\.ko(\.\w+)?$", ".ko", ko.name)
        archive.add(f"lib/modules/{name}", 0o100644, _module_bytes(ko))
        names.append(name)
    archive.add("etc/modules", 0o100644, ("\n".join(names) + "\n").encode())
    init = INIT.replace("@METADATA_URL@", METADATA_URL).replace("@USERDATA_URL@", USERDATA_URL)
    archive.add("init", 0o100755, init.encode())
    archive.add("etc/udhcpc.sh", 0o100755, UDHCPC_SCRIPT.encode())
    return gzip.compress(archive.finish(), compresslevel=9, mtime=0)


def _run(*argv: str, stdin: str | None = None) -> None:
    tool = shutil.which(argv[0])
    if tool is None:
        raise BuildError(f"{argv[0]} missing: apt-get install {' '.join(APT_PACKAGES)}")
    result = subprocess.run([tool, *argv[1:]], input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(argv)} failed: {(result.stderr or result.stdout).strip()}")


def disk(raw: Path, kernel: Path, initrd: Path) -> None:
    """MBR + one bootable FAT16 partition from 1 MiB, filled by mtools and made bootable by syslinux."""
    size = DISK_MIB * 1024 * 1024
    with raw.open("wb") as f:
        f.truncate(size)
    _run("sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(raw),
         stdin=f"label: dos\nstart={PART_OFFSET // 512}, type=e, bootable\n")
    part = f"{raw}@@{PART_OFFSET}"
    sectors = (size - PART_OFFSET) // 512
    _run("mformat", "-i", part, "-T", str(sectors), "-h", "64", "-s", "32", "-H", str(PART_OFFSET // 512),
         "-v", "TINY", "::")
    cfg = raw.with_name("syslinux.cfg")
    cfg.write_text(SYSLINUX_CFG)
    for src, dst in ((kernel, "::vmlinuz"), (initrd, "::initrd.img"), (cfg, "::syslinux.cfg")):
        _run("mcopy", "-i", part, str(src), dst)
    _run("syslinux", "--install", "--offset", str(PART_OFFSET), str(raw))
    if not SYSLINUX_MBR.is_file():
        raise BuildError(f"{SYSLINUX_MBR} missing: apt-get install syslinux-common")
    with raw.open("r+b") as f:
        f.write(SYSLINUX_MBR.read_bytes()[:440])


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()


def cache_key(kernel: Kernel) -> str:
    """Content, not dates: this builder's source, the kernel image and release, and the busybox binary."""
    return _sha(Path(__file__).read_bytes(), kernel.release.encode(), kernel.vmlinuz.read_bytes(),
                BUSYBOX.read_bytes() if BUSYBOX.is_file() else b"")[:16]


def default_cache() -> Path:
    return Path(os.environ.get("TINYIMAGE_CACHE") or Path.home() / ".cache" / "tui-installer" / "tinyimage")


def build(out: Path | None = None, cache_dir: Path | None = None, release: str | None = None) -> Built:
    """The image for this host's kernel, from the cache when this content was built before; copied to `out`
    when given. Safe when two processes build at once: each builds aside and the first rename wins."""
    start = time.monotonic()
    kernel = find_kernel(release)
    cache = cache_dir or default_cache()
    entry = cache / f"tiny-{kernel.release}-{cache_key(kernel)}"
    cached = entry.is_dir()
    if not cached:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache, prefix=".build-") as tmp:
            work = Path(tmp) / "entry"
            work.mkdir()
            _build_into(work, kernel)
            try:
                work.rename(entry)
            except OSError:
                if not entry.is_dir():
                    raise
    built = Built(entry / "tiny.qcow2", entry / "vmlinuz", entry / "initrd.img", time.monotonic() - start, cached)
    if out is not None:
        shutil.copyfile(built.qcow2, out)
    return built


def _build_into(work: Path, kernel: Kernel) -> None:
    shutil.copyfile(kernel.vmlinuz, work / "vmlinuz")
    (work / "initrd.img").write_bytes(initramfs(kernel))
    raw = work / "tiny.raw"
    disk(raw, work / "vmlinuz", work / "initrd.img")
    _run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(work / "tiny.qcow2"))
    raw.unlink()
    (work / "syslinux.cfg").unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="where to write the qcow2")
    parser.add_argument("--cache", type=Path, help="cache directory (default $TINYIMAGE_CACHE or ~/.cache/...)")
    parser.add_argument("--kernel", help="kernel release (default: the newest in /boot with modules)")
    args = parser.parse_args(argv)
    try:
        built = build(args.out, args.cache, args.kernel)
    except BuildError as e:
        print(f"tinyimage: {e}", file=sys.stderr)
        return 2
    how = "from cache" if built.cached else "built"
    print(f"{args.out}: {args.out.stat().st_size} bytes, {how} in {built.seconds:.2f} s "
          f"(kernel {built.kernel}, initrd {built.initrd})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
