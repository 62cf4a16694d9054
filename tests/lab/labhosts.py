"""Lab hosts: two or three real-looking Debian 12 servers on this machine, each in namespaces of its own.

    python3 tests/lab/labhosts.py up [--hosts N] | down | status | build

What ``up`` makes (docs: TESTING.md, "Lab hosts"; the measurements: LAB-HOSTS.md):
- a Debian 12 root filesystem, ``debootstrap --variant=minbase`` with systemd, sshd and python3, built once
  into a cache directory keyed by the hash of its recipe (``$TUI_INSTALLER_LAB_CACHE``, default
  ``/var/cache/tui-installer-lab``) and shared read-only as the lower layer of an overlay per host;
- a gateway network namespace (``tlab-gw``) holding a private bridge, one namespace per host with a veth on
  that bridge and its own address in the lab range (``10.231.0.0/24``), a route to the range from the
  machine through the gateway, and an nft masquerade (table ``ip tlab``) so apt and PyPI answer inside;
- each host's init in new pid, mount, uts, ipc and cgroup namespaces (``unshare``) under its own cgroup,
  the overlay mounted inside its mount namespace, then ``pivot_root``: ``systemd`` as PID 1 (the first
  host always), or ``sshd -D`` alone for a lighter host;
- an ed25519 key, a known_hosts file with each host's own host key, an ssh_config and an Ansible
  inventory (groups ``controller`` and ``compute``) in the lab directory (``$TUI_INSTALLER_LAB_DIR``,
  default ``/var/lib/tui-installer-lab``).

``down`` removes all of it but the cached root filesystem: processes (``cgroup.kill``), cgroups,
namespaces, the bridge, the nft table, the route, the host directories; ``ip_forward`` is put back to what
it was before ``up``. Both are idempotent: ``up`` first clears whatever a crashed run left, ``down`` works
with or without the state file. Root only; a tool for tests, not shipped in the wheel.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: which lab (0-9): two labs with different ids live side by side on one machine (names, ranges, dirs)
LAB_ID = int(os.environ.get("TUI_INSTALLER_LAB_ID", "0"))
PREFIX = "tlab" if LAB_ID == 0 else f"tlab{LAB_ID}"
GW_NS = f"{PREFIX}-gw"
UPLINK = f"{PREFIX}-up"            # the machine's end of the veth to the gateway namespace
NET = f"10.{231 + LAB_ID}.0"       # hosts: NET.11, NET.12, ...; the bridge: NET.1
TRANSIT = (f"10.{231 + LAB_ID}.255.1", f"10.{231 + LAB_ID}.255.2")  # machine <-> gateway
LAB_RANGE = f"{NET}.0/24"
NFT_TABLE = PREFIX
# the cgroup2 hierarchy: /sys/fs/cgroup/unified on a hybrid host (this machine kind), else /sys/fs/cgroup
CGROUP_ROOT = (Path("/sys/fs/cgroup/unified") if Path("/sys/fs/cgroup/unified/cgroup.procs").exists()
               else Path("/sys/fs/cgroup")) / PREFIX
FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
#: ip_forward as it was before the first lab came up; the last lab's ``down`` puts it back
FORWARD_SAVED = Path("/run/tui-installer-lab.ip_forward")

#: what the root filesystem is made of; its hash names the cache entry (change it, and a new one is built)
RECIPE = {
    "version": 1,
    "suite": "bookworm",
    "variant": "minbase",
    "mirror": "http://deb.debian.org/debian",
    "include": ["systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "iproute2", "procps",
                "ca-certificates", "sudo", "iputils-ping"],
    # container-unfriendly units: the console getty has no terminal here
    "mask": ["console-getty.service", "getty@tty1.service", "systemd-firstboot.service"],
}


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    return Path(os.environ.get("TUI_INSTALLER_LAB_CACHE", "/var/cache/tui-installer-lab"))


def lab_dir() -> Path:
    default = "/var/lib/tui-installer-lab" + (f"-{LAB_ID}" if LAB_ID else "")
    return Path(os.environ.get("TUI_INSTALLER_LAB_DIR", default))


def sh(*argv: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
    return result


@dataclass(frozen=True)
class Host:
    name: str
    index: int
    init: str  # "systemd" or "sshd"

    @property
    def address(self) -> str:
        return f"{NET}.{10 + self.index}"

    @property
    def netns(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def cgroup(self) -> Path:
        return CGROUP_ROOT / self.name

    @property
    def group(self) -> str:
        return "controller" if self.index == 1 else "compute"


def hosts_for(count: int, sshd_only: int = 0) -> list[Host]:
    """lab1 (the controller) runs systemd; the last ``sshd_only`` hosts run sshd alone."""
    return [Host(f"lab{i}", i, "sshd" if i > count - sshd_only and i > 1 else "systemd")
            for i in range(1, count + 1)]


# -- the root filesystem ------------------------------------------------------------------------


def build_rootfs() -> Path:
    """The cached root filesystem, built now if missing (one builder at a time: a flock)."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / f"rootfs-{recipe_hash()}"
    if (final / ".lab-complete").exists():
        return final
    with open(cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / ".lab-complete").exists():
            return final
        work = cache / f".build-{recipe_hash()}-{os.getpid()}"
        for stale in cache.glob(".build-*"):  # a crashed build: debootstrap's mounts first
            _unmount_under(stale)
            shutil.rmtree(stale, ignore_errors=True)
        started = time.monotonic()
        sh("debootstrap", f"--variant={RECIPE['variant']}", "--include=" + ",".join(RECIPE["include"]),
           str(RECIPE["suite"]), str(work), str(RECIPE["mirror"]))
        _configure_rootfs(work)
        (work / ".lab-complete").write_text(f"built in {time.monotonic() - started:.0f} s\n")
        shutil.rmtree(final, ignore_errors=True)
        work.rename(final)
        return final


def _configure_rootfs(root: Path) -> None:
    """What every host shares: per-host identity (host keys, machine-id) comes from each host's upper."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    (root / "etc/ssh/sshd_config.d/lab.conf").write_text(
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n")
    for unit in RECIPE["mask"]:
        target = root / "etc/systemd/system" / unit
        target.unlink(missing_ok=True)
        target.symlink_to("/dev/null")
    (root / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
    for apt_cache in (root / "var/cache/apt/archives").glob("*.deb"):
        apt_cache.unlink()


# -- up -----------------------------------------------------------------------------------------

# Runs inside the host's new namespaces (as their PID 1 until it execs the init). Arguments: lower,
# upper, work, merged, hostname, init.
STAGE2 = r"""
set -eu
LOWER=$1 UPPER=$2 WORK=$3 R=$4 NAME=$5 INIT=$6
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" "$R"
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount --bind "$R/proc/sys/net" "$R/proc/sys/net"
mount -o remount,bind,rw "$R/proc/sys/net"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t cgroup2 -o nsdelegate cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=755,size=16m tmpfs "$R/dev"
mknod -m 666 "$R/dev/null" c 1 3; mknod -m 666 "$R/dev/zero" c 1 5; mknod -m 666 "$R/dev/full" c 1 7
mknod -m 666 "$R/dev/random" c 1 8; mknod -m 666 "$R/dev/urandom" c 1 9; mknod -m 666 "$R/dev/tty" c 5 0
mkdir -m 755 "$R/dev/net"; mknod -m 666 "$R/dev/net/tun" c 10 200
[ -e /dev/kvm ] && { mknod -m 660 "$R/dev/kvm" c 10 232 || true; }
ln -s /proc/self/fd "$R/dev/fd"; ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"
mkdir -m 755 "$R/dev/pts"; mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mkdir -m 1777 "$R/dev/shm"; mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
touch "$R/dev/console"; mount --bind /dev/null "$R/dev/console"
hostname "$NAME"
cd "$R"; mkdir -p .oldroot; pivot_root . .oldroot; cd /
umount -l /.oldroot; rmdir /.oldroot
if [ "$INIT" = systemd ]; then
    exec env -i container=tui-installer-lab PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd
fi
mount -t tmpfs -o mode=755 tmpfs /run; mkdir -m 755 /run/sshd
exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/sshd -D -e
"""


def up(count: int = 3, sshd_only: int = 0) -> list[Host]:
    if os.geteuid() != 0:
        raise SystemExit("labhosts: must run as root")
    down(quiet=True)
    rootfs = build_rootfs()
    hosts = hosts_for(count, sshd_only)
    base = lab_dir()
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    if not FORWARD_SAVED.exists():
        FORWARD_SAVED.write_text(FORWARD.read_text())
    state = {"ip_forward": FORWARD_SAVED.read_text().strip(), "hosts": [h.name for h in hosts],
             "rootfs": str(rootfs), "started": time.time()}
    _write_json(base / "state.json", state)  # before anything changes: down restores from it
    key = base / "id_ed25519"
    if not key.exists():  # a new key per lab: down removes it
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tui-installer-lab", "-f", str(key))
    _network_up(hosts)
    known = []
    for host in hosts:
        known.append(f"{host.address} " + _prepare_host(host, rootfs, key))
        _start_host(host, rootfs)
    (base / "known_hosts").write_text("\n".join(known) + "\n")
    _write_client_files(hosts, base)
    for host in hosts:
        _wait_ssh(host, base)
    return hosts


def _network_up(hosts: list[Host]) -> None:
    sh("ip", "netns", "add", GW_NS)
    sh("ip", "-n", GW_NS, "link", "set", "lo", "up")
    sh("ip", "link", "add", UPLINK, "type", "veth", "peer", "name", "uplink", "netns", GW_NS)
    sh("ip", "addr", "add", f"{TRANSIT[0]}/30", "dev", UPLINK)
    sh("ip", "link", "set", UPLINK, "up")
    sh("ip", "-n", GW_NS, "addr", "add", f"{TRANSIT[1]}/30", "dev", "uplink")
    sh("ip", "-n", GW_NS, "link", "set", "uplink", "up")
    sh("ip", "-n", GW_NS, "link", "add", "labbr0", "type", "bridge")
    sh("ip", "-n", GW_NS, "addr", "add", f"{NET}.1/24", "dev", "labbr0")
    sh("ip", "-n", GW_NS, "link", "set", "labbr0", "up")
    sh("ip", "-n", GW_NS, "route", "add", "default", "via", TRANSIT[0])
    sh("ip", "netns", "exec", GW_NS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    sh("ip", "route", "add", LAB_RANGE, "via", TRANSIT[1], "dev", UPLINK)
    for host in hosts:
        sh("ip", "netns", "add", host.netns)
        sh("ip", "-n", host.netns, "link", "set", "lo", "up")
        sh("ip", "-n", GW_NS, "link", "add", f"v{host.name}", "type", "veth", "peer", "name", "eth0",
           "netns", host.netns)
        sh("ip", "-n", GW_NS, "link", "set", f"v{host.name}", "master", "labbr0", "up")
        sh("ip", "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        sh("ip", "-n", host.netns, "link", "set", "eth0", "up")
        sh("ip", "-n", host.netns, "route", "add", "default", "via", f"{NET}.1")
    rules = (f"table ip {NFT_TABLE} {{\n chain postrouting {{ type nat hook postrouting priority srcnat; "
             f"ip saddr {LAB_RANGE} oifname != \"{UPLINK}\" masquerade; }}\n}}\n")
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    FORWARD.write_text("1\n")


def _prepare_host(host: Host, rootfs: Path, key: Path) -> str:
    """The host's upper layer: its identity (hostname, machine-id, host key), root's authorized key,
    resolv.conf. Returns its public host key."""
    root = lab_dir() / "hosts" / host.name
    upper = root / "upper"
    for sub in ("upper", "work", "merged"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (upper / "etc/ssh").mkdir(parents=True, exist_ok=True)
    (upper / "etc/hostname").write_text(host.name + "\n")
    (upper / "etc/hosts").write_text(f"127.0.0.1 localhost\n{host.address} {host.name}\n")
    (upper / "etc/machine-id").write_text(hashlib.md5(f"{host.name}{time.time()}".encode()).hexdigest() + "\n")
    shutil.copyfile("/etc/resolv.conf", upper / "etc/resolv.conf")
    # the machine's trust: a site CA (a TLS-inspecting egress, say) is trusted by its hosts too, and pip's
    # configuration comes along (a real server on this network would be set up the same way)
    for name in ("etc/ssl/certs/ca-certificates.crt", "etc/pip.conf"):
        if Path("/", name).is_file():
            (upper / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path("/", name), upper / name)
    local_cas = Path("/usr/local/share/ca-certificates")
    if local_cas.is_dir():
        shutil.copytree(local_cas, upper / "usr/local/share/ca-certificates", dirs_exist_ok=True)
    hostkey = upper / "etc/ssh/ssh_host_ed25519_key"
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(hostkey))
    (upper / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    (upper / "etc/ssh/sshd_config.d/hostkey.conf").write_text("HostKey /etc/ssh/ssh_host_ed25519_key\n")
    ssh_dir = upper / "root/.ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(upper / "root", 0o700)
    os.chmod(ssh_dir, 0o700)
    (ssh_dir / "authorized_keys").write_text(Path(f"{key}.pub").read_text())
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    pub = Path(f"{hostkey}.pub").read_text().split()
    return f"{pub[0]} {pub[1]}"


def _start_host(host: Host, rootfs: Path) -> None:
    root = lab_dir() / "hosts" / host.name
    CGROUP_ROOT.mkdir(exist_ok=True)
    host.cgroup.mkdir(exist_ok=True)
    log = open(root / "console.log", "ab")
    # the shell moves itself into the host's cgroup, then becomes `ip netns exec ... unshare ...`
    launcher = (f'echo $$ > {host.cgroup}/cgroup.procs && exec ip netns exec {host.netns} unshare --pid --fork '
                f'--mount --uts --ipc --cgroup --kill-child bash -c "$0" lab-init "$@"')
    proc = subprocess.Popen(["sh", "-c", launcher, STAGE2, str(rootfs), str(root / "upper"), str(root / "work"),
                             str(root / "merged"), host.name, host.init],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    (root / "launcher.pid").write_text(f"{proc.pid}\n")
    log.close()


def _write_client_files(hosts: list[Host], base: Path) -> None:
    key, known = base / "id_ed25519", base / "known_hosts"
    config = [f"Host {h.name}\n  HostName {h.address}\n  User root\n  IdentityFile {key}\n"
              f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n"
              f"  BatchMode yes\n  ConnectTimeout 5\n" for h in hosts]
    (base / "ssh_config").write_text("\n".join(config))
    lines = ["[all:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={key}",
             f"ansible_ssh_common_args='-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes "
             f"-o IdentitiesOnly=yes'", "ansible_python_interpreter=/usr/bin/python3", ""]
    for group in ("controller", "compute"):
        lines.append(f"[{group}]")
        lines += [f"{h.name} ansible_host={h.address}" for h in hosts if h.group == group]
        lines.append("")
    (base / "inventory.ini").write_text("\n".join(lines))
    _write_json(base / "hosts.json", [{"name": h.name, "address": h.address, "init": h.init,
                                       "group": h.group, "netns": h.netns} for h in hosts])


def ssh_argv(host: str, base: Path | None = None) -> list[str]:
    return ["ssh", "-F", str((base or lab_dir()) / "ssh_config"), host]


def _wait_ssh(host: Host, base: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run([*ssh_argv(host.name, base), "true"], capture_output=True, text=True)
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            console = (lab_dir() / "hosts" / host.name / "console.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"lab host {host.name} ({host.address}): no ssh after {timeout:.0f} s: "
                               f"{result.stderr.strip()}\n{console}")
        time.sleep(0.3)


# -- stop / start one host (a reboot) -----------------------------------------------------------


def init_pid(host: Host) -> int | None:
    """The host's PID 1, as the machine sees it (the process whose innermost pid is 1)."""
    try:
        pids = [int(p) for procs in host.cgroup.rglob("cgroup.procs") for p in procs.read_text().split()]
    except OSError:
        return None
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
        if len(nspid) > 1 and nspid[-1] == "1":
            return pid
    return None


def stop(host: Host, timeout: float = 30.0) -> float:
    """Shut the host down as a server would: systemd's own poweroff (SIGRTMIN+4 to its PID 1; sshd-only
    hosts get SIGTERM), then whatever is left killed; its files stay. Returns the seconds it took."""
    started = time.monotonic()
    pid = init_pid(host)
    if pid is not None:
        os.kill(pid, signal.SIGRTMIN + 4 if host.init == "systemd" else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _populated(host.cgroup):
        time.sleep(0.2)
    (host.cgroup / "cgroup.kill").write_text("1")
    while _populated(host.cgroup):
        time.sleep(0.1)
    for group in sorted((p for p in host.cgroup.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        group.rmdir()
    return time.monotonic() - started


def _populated(cgroup: Path) -> bool:
    """Any process left in the cgroup or below it."""
    return "populated 1" in (cgroup / "cgroup.events").read_text()


def start(host: Host) -> None:
    """Boot a stopped host again from its own upper layer (what it installed is still there)."""
    state = _read_json(lab_dir() / "state.json")
    if not isinstance(state, dict):
        raise RuntimeError("the lab is not up")
    _start_host(host, Path(str(state["rootfs"])))
    _wait_ssh(host, lab_dir())


# -- down ---------------------------------------------------------------------------------------


def down(quiet: bool = False) -> None:
    """Remove everything ``up`` made (and whatever a crashed ``up`` left), but the cached rootfs."""
    if os.geteuid() != 0:
        raise SystemExit("labhosts: must run as root")
    base = lab_dir()
    state = _read_json(base / "state.json")
    _kill_cgroups()
    for pidfile in (base / "hosts").glob("*/launcher.pid"):
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        name = ns.split(" ")[0]
        if name.startswith(f"{PREFIX}-"):
            sh("ip", "netns", "delete", name, check=False)
    sh("ip", "route", "del", LAB_RANGE, check=False)
    sh("ip", "link", "del", UPLINK, check=False)
    sh("nft", "delete", "table", "ip", NFT_TABLE, check=False)
    if not other_labs():  # else another lab still routes: the last one restores it
        saved = FORWARD_SAVED.read_text().strip() if FORWARD_SAVED.exists() else None
        if saved is None and isinstance(state, dict):
            saved = str(state.get("ip_forward", "")) or None
        if saved in ("0", "1"):
            FORWARD.write_text(saved + "\n")
        FORWARD_SAVED.unlink(missing_ok=True)
    if (base / "hosts").exists():
        _unmount_under(base / "hosts")
        shutil.rmtree(base / "hosts")
    for name in ("state.json", "inventory.ini", "ssh_config", "known_hosts", "hosts.json", "id_ed25519",
                 "id_ed25519.pub", "inventory-one.ini"):
        (base / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        base.rmdir()  # only if nothing else was put there
    if not quiet:
        print("lab: down")


def other_labs() -> list[str]:
    """Gateway namespaces of labs with another id that are up now."""
    names = [line.split(" ")[0] for line in sh("ip", "netns", "list", check=False).stdout.split("\n")]
    return [n for n in names if n.startswith("tlab") and n.endswith("-gw") and n != GW_NS]


def _kill_cgroups() -> None:
    if not CGROUP_ROOT.exists():
        return
    for group in [p for p in CGROUP_ROOT.iterdir() if p.is_dir()]:
        with contextlib.suppress(OSError):
            (group / "cgroup.kill").write_text("1")
    deadline = time.monotonic() + 10
    for group in sorted((p for p in CGROUP_ROOT.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        while True:
            try:
                group.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    CGROUP_ROOT.rmdir()


def _unmount_under(path: Path) -> None:
    """Overlays live in the hosts' own mount namespaces and go with them; a mount of a host directory
    in the machine's namespace (a debugging leftover) is removed too."""
    resolved = str(path.resolve())
    for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
        target = line.split()[1]
        if target.startswith(resolved + "/"):
            sh("umount", "-l", target, check=False)


# -- status -------------------------------------------------------------------------------------


def status() -> dict[str, object]:
    base = lab_dir()
    state = _read_json(base / "state.json")
    hosts = _read_json(base / "hosts.json") or []
    out: dict[str, object] = {"up": bool(state), "rootfs": str(cache_dir() / f"rootfs-{recipe_hash()}"),
                              "rootfs_built": (cache_dir() / f"rootfs-{recipe_hash()}/.lab-complete").exists(),
                              "hosts": []}
    listed: list[dict[str, object]] = []
    out["hosts"] = listed
    for host in hosts if isinstance(hosts, list) else []:
        result = subprocess.run([*ssh_argv(host["name"], base), "true"], capture_output=True, text=True)
        listed.append({**host, "ssh": result.returncode == 0})
    return out


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n")


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labhosts", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="build the rootfs if needed, start the hosts")
    p_up.add_argument("--hosts", type=int, default=3, choices=[1, 2, 3, 4])
    p_up.add_argument("--sshd-only", type=int, default=1, help="how many of the last hosts run sshd alone")
    sub.add_parser("down", help="remove everything up made (the rootfs cache stays)")
    sub.add_parser("status", help="what runs, and does ssh answer")
    sub.add_parser("build", help="build the cached rootfs only")
    args = parser.parse_args(argv)
    if args.command == "up":
        hosts = up(args.hosts, args.sshd_only)
        for h in hosts:
            print(f"{h.name} {h.address} {h.init} {h.group}")
        print(f"inventory: {lab_dir() / 'inventory.ini'}  ssh: ssh -F {lab_dir() / 'ssh_config'} {hosts[0].name}")
    elif args.command == "down":
        down()
    elif args.command == "status":
        print(json.dumps(status(), indent=1))
    else:
        print(build_rootfs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
