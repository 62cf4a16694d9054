"""A plain `pip install .` (a wheel, not an editable install, no test extras) into a fresh venv works: it
puts no generic top-level `screens` (or `profiles`) module into site-packages, and a real install of the
demo profile and `status` run from that venv alone."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_in_a_fresh_venv_and_runs(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(dist), str(ROOT)], check=True, timeout=300)
    wheel = next(dist.glob("tui_installer-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert not {"screens", "profiles", "tests", "bench"} & tops, tops
    assert "tui_installer/profiles/all-in-one.yaml" in names
    assert "tui_installer/services/keystone.yaml" in names
    # the pinned OpenStack release ships with the installer: pip install -c needs the file
    assert any(n.startswith("tui_installer/services/constraints-") and n.endswith(".txt") for n in names)
    # the published JSON Schema of the file formats, for editors (docs/SERVICE-FORMAT.md)
    assert {f"tui_installer/schemas/{kind}.schema.json" for kind in ("service", "profile", "answers")} <= set(names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    pip = env_dir / "bin" / "pip"
    # dependencies come from the index as for a user; the wheel itself is the one just built
    subprocess.run([str(pip), "install", "-q", str(wheel)], check=True, timeout=600)
    exe = env_dir / "bin" / "tui-installer"
    state = tmp_path / "state"
    profiles = subprocess.run([str(exe), "--state-dir", str(state), "profiles"], capture_output=True,
                              text=True, check=True)
    assert "all-in-one" in profiles.stdout and "compute-only" in profiles.stdout
    plan = subprocess.run([str(exe), "--state-dir", str(state), "plan", "-p", "all-in-one"],
                          capture_output=True, text=True, check=True)
    assert "keystone" in plan.stdout
    release = subprocess.run([str(env_dir / "bin" / "python"), "-m", "tui_installer.ops.release", "constraints",
                              "2026.2"], capture_output=True, text=True)
    assert release.returncode == 0 and Path(release.stdout.strip()).is_file(), release.stdout + release.stderr
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    assert not (site / "screens").exists() and not (site / "profiles").exists()
    assert (site / "tui_installer" / "screens").is_dir()
    _demo_installs_from(env_dir, tmp_path)


def _demo_installs_from(env_dir: Path, tmp_path: Path) -> None:
    """As a user would after `pip install .`: a real install of the demo profile (its secret generated
    into a new keyring, its prompt answered) and `status`, from that venv alone; the secret is redacted."""
    exe, state = str(env_dir / "bin" / "tui-installer"), tmp_path / "demo-state"
    env = {"PATH": "/usr/bin:/bin", "TUI_INSTALLER_KEYRING_PASSPHRASE": "wheel-test-passphrase"}
    marker = Path("/tmp/hello-marker")
    existed = marker.exists()
    try:
        done = subprocess.run([exe, "--state-dir", str(state), "install", "-p", "demo", "--yes"], env=env,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 0 and "finished: ok" in done.stdout, done.stdout + done.stderr
        status = subprocess.run([exe, "--state-dir", str(state), "status"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert status.returncode == 0 and "install of demo: ok" in status.stdout, status.stdout + status.stderr
        secret = subprocess.run([exe, "--state-dir", str(state), "passwords", "show", "hello_password"], env=env,
                                capture_output=True, text=True, timeout=60).stdout.strip()
        logs = list(state.glob("runs/*/logs/hello.verify.redacted.log"))
        assert len(secret) >= 8 and logs and "the password is ***" in logs[0].read_text()
        assert not [p for p in state.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    finally:
        if not existed:
            marker.unlink(missing_ok=True)
