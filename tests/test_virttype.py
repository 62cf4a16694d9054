"""libvirt's virt_type chosen by the host's facts (hostfacts.choose_virt_type): kvm only where KVM really
works, a /dev/kvm *and* the CPU's vmx/svm flag, else qemu (TCG). This machine has a /dev/kvm backed by PVM
and no such flag: auto must pick qemu here, an explicit kvm must be refused by preflight with the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tui_installer import hostfacts, preview
from tui_installer.hostfacts import VirtType, choose_virt_type, resolve_virt_type

INTEL = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse msr pae vmx ept sse2\n\n" \
        "processor\t: 1\nflags\t\t: fpu vme de pse msr pae vmx ept sse2\n"
AMD = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 svm npt lm\n"
PVM = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 hypervisor lm avx2 vmxnope\n"


def test_kvm_only_with_the_device_and_a_virtualisation_flag() -> None:
    assert choose_virt_type(INTEL, kvm_device=True).name == "kvm"
    assert "vmx" in choose_virt_type(INTEL, kvm_device=True).reason
    assert choose_virt_type(AMD, kvm_device=True) == VirtType("kvm", "/dev/kvm is present and the CPU has the svm flag")
    no_flag = choose_virt_type(PVM, kvm_device=True)
    assert no_flag.name == "qemu" and "neither the vmx nor the svm flag" in no_flag.reason, "vmxnope is not vmx"
    no_device = choose_virt_type(INTEL, kvm_device=False)
    assert no_device.name == "qemu" and "no /dev/kvm" in no_device.reason
    assert choose_virt_type("", kvm_device=True).name == "qemu", "unreadable cpuinfo: no flags, no KVM"


def test_the_setting_resolves_or_is_refused_with_the_fix() -> None:
    kvm, tcg = choose_virt_type(AMD, True), choose_virt_type(PVM, True)
    assert resolve_virt_type("auto", kvm)[0] == "kvm" and resolve_virt_type("auto", tcg)[0] == "qemu"
    name, line = resolve_virt_type("kvm", tcg)
    assert name is None and "\n" not in line
    assert line.endswith("use --set libvirt_virt_type=qemu") and "vmx" in line
    assert preview.FIX_RE.findall(line) == [("libvirt_virt_type", "qemu")]
    assert resolve_virt_type("kvm", kvm)[0] == "kvm"
    assert resolve_virt_type("qemu", tcg)[0] == "qemu"
    assert "KVM would work here" in resolve_virt_type("qemu", kvm)[1]
    assert resolve_virt_type("xen", kvm)[0] is None


def test_host_facts_read_files(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(INTEL)
    assert hostfacts.host_virt_type(str(tmp_path / "cpuinfo"), "/dev/null").name == "kvm", "a char device"
    assert hostfacts.host_virt_type(str(tmp_path / "cpuinfo"), str(tmp_path / "cpuinfo")).name == "qemu"
    assert hostfacts.host_virt_type(str(tmp_path / "missing"), "/dev/null").name == "qemu"


HAS_VT = subprocess.run(["grep", "-qwE", "vmx|svm", "/proc/cpuinfo"]).returncode == 0


@pytest.mark.skipif(HAS_VT, reason="this host's CPU has vmx/svm: the no-KVM case is proven on hosts without")
def test_this_machine_picks_qemu_and_refuses_kvm_with_the_fix(tmp_path: Path) -> None:
    """The real facts, through the step helper nova-compute's preflight runs and the host check."""
    facts = hostfacts.host_virt_type()
    assert facts.name == "qemu" and "vmx" in facts.reason and "svm" in facts.reason, facts
    helper = [sys.executable, "-m", "tui_installer.ops.virttype"]
    auto = subprocess.run([*helper, "check", "auto"], capture_output=True, text=True)
    assert auto.returncode == 0 and auto.stdout.startswith("libvirt virt_type qemu (auto"), auto
    assert subprocess.run([*helper, "resolve", "auto"], capture_output=True, text=True).stdout == "qemu\n"
    refused = subprocess.run([*helper, "resolve", "kvm"], capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip().endswith("use --set libvirt_virt_type=qemu") and "vmx" in refused.stderr
    checks = {c.name: c for c in preview.preflight_checks("all-in-one", tmp_path)}
    picked = checks["nova-compute.virt-driver"]
    assert picked.status == "pass" and picked.why.startswith("libvirt virt_type qemu (auto"), picked
    forced = {c.name: c for c in preview.preflight_checks("all-in-one", tmp_path, {"libvirt_virt_type": "kvm"})}
    kvm = forced["nova-compute.virt-driver"]
    assert kvm.status == "fail" and kvm.fix == (("libvirt_virt_type", "qemu"),) and "vmx" in kvm.why, kvm
    assert ("Virtualisation", f"qemu: {facts.reason}") in preview.host_facts(tmp_path)
