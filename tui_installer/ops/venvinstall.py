"""Install the OpenStack packages into the virtualenv: uv where it works, pip where it does not.

    python -m tui_installer.ops.venvinstall --venv PREFIX/venv --constraints FILE \\
        [--uncached "uWSGI"] [--installer auto|uv|pip] [--uv PATH] [--wheels DIR] PACKAGE...

- uv (from PyPI, ``--uv`` or on PATH) resolves and installs with the same constraints file as pip
  (``uv pip install --python VENV/bin/python -c FILE``), several times faster; when uv is missing or
  fails, pip does the same install (``VENV/bin/pip install -c FILE``): the result is the same pins.
- packages without a usable wheel on PyPI (``--uncached``: uWSGI) are built here once, with pip's
  build and no cache (``pip wheel --no-cache-dir``), into ``WHEELS/<key>/`` where the key is a hash of
  the *interpreter* they were built for (its real path, version, ABI, include and library dirs) — the
  trap of docs/OPENSTACK-RECIPES.md (11): pip's and uv's wheel caches are keyed by the sdist, and a
  uWSGI wheel built for another Python 3.11 embeds that one. A later install for the same interpreter
  takes the wheel from there (``--no-index --find-links``); another interpreter gets its own build.

Prints which installer did what; exits non-zero only when the fallback failed too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: where interpreter-keyed wheels of the uncached packages are kept between installs
DEFAULT_WHEELS = Path("/var/cache/tui-installer/wheels")

_IDENTITY = r"""
import json, os, sys, sysconfig
print(json.dumps({"executable": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
                  "version": sys.version, "abi": sysconfig.get_config_var("SOABI"),
                  "multiarch": sysconfig.get_config_var("MULTIARCH"),
                  "include": sysconfig.get_paths()["include"], "libdir": sysconfig.get_config_var("LIBDIR"),
                  "base_prefix": sys.base_prefix}, sort_keys=True))
"""


def interpreter_key(python: Path) -> str:
    """A short hash of what a compiled extension built for ``python`` depends on."""
    out = subprocess.run([str(python), "-c", _IDENTITY], capture_output=True, text=True, check=True).stdout
    identity = json.loads(out)
    return f"py{sys_version(identity['version'])}-" + hashlib.sha256(out.encode()).hexdigest()[:16]


def sys_version(version: str) -> str:
    return "".join(version.split(".")[:2])


def find_uv(explicit: str | None) -> str | None:
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("uv")


def _run(argv: list[str], env: dict[str, str] | None = None) -> bool:
    print("+ " + " ".join(argv), flush=True)
    return subprocess.run(argv, env=env).returncode == 0


def _uv_env() -> dict[str, str]:
    # the system's CA store (as pip's PIP_CERT), never a cache shared with another interpreter's build
    return {**os.environ, "UV_NATIVE_TLS": "1", "UV_NO_PROGRESS": "1"}


def build_uncached(venv: Path, constraints: Path, packages: list[str], wheels: Path) -> Path:
    """The wheels of ``packages`` for this venv's interpreter: built now unless already there."""
    python = venv / "bin" / "python"
    target = wheels / interpreter_key(python)
    wanted = [p for p in packages if not _have_wheel(target, p)]
    if not wanted:
        print(f"uncached packages: wheels for this interpreter already in {target}", flush=True)
        return target
    wheels.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=wheels, prefix=".build-") as tmp:
        if not _run([str(venv / "bin" / "pip"), "wheel", "--no-input", "--no-deps", "--no-cache-dir",
                     "-c", str(constraints), "-w", tmp, *wanted]):
            raise SystemExit(f"building {' '.join(wanted)} for {python} failed")
        target.mkdir(exist_ok=True)
        for wheel in Path(tmp).glob("*.whl"):
            os.replace(wheel, target / wheel.name)  # whole files only: a killed build leaves no wheel
    return target


def _have_wheel(directory: Path, package: str) -> bool:
    name = package.split("=")[0].split("<")[0].split(">")[0].strip().lower().replace("-", "_")
    return directory.is_dir() and any(w.name.lower().startswith(name + "-") for w in directory.glob("*.whl"))


def install(venv: Path, constraints: Path, packages: list[str], uncached: list[str], *, installer: str,
            uv: str | None, wheels: Path) -> str:
    """Returns the installer that did the main install ("uv" or "pip")."""
    python, pip = venv / "bin" / "python", venv / "bin" / "pip"
    uv = find_uv(uv) if installer in ("auto", "uv") else None
    if installer == "uv" and uv is None:
        raise SystemExit("--installer uv: uv not found")
    if uncached:
        found = build_uncached(venv, constraints, uncached, wheels)
        local = ["--no-index", "--find-links", str(found), "-c", str(constraints), *uncached]
        if not (uv and _run([uv, "pip", "install", "--python", str(python), *local], _uv_env())):
            if not _run([str(pip), "install", "--no-input", *local]):
                raise SystemExit(f"installing {' '.join(uncached)} from {found} failed")
    if uv is not None:
        if _run([uv, "pip", "install", "--python", str(python), "-c", str(constraints), *packages], _uv_env()):
            return "uv"
        if installer == "uv":
            raise SystemExit("uv pip install failed")
        print("uv failed: installing with pip instead", flush=True)
    if not _run([str(pip), "install", "--no-input", "-c", str(constraints), *packages]):
        raise SystemExit("pip install failed")
    return "pip"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="venvinstall", description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", required=True, type=Path)
    parser.add_argument("--constraints", required=True, type=Path)
    parser.add_argument("--uncached", default="", help="packages built here for this interpreter (spaces)")
    parser.add_argument("--installer", choices=("auto", "uv", "pip"), default="auto")
    parser.add_argument("--uv", default=None, help="the uv binary (default: uv on PATH)")
    parser.add_argument("--wheels", type=Path, default=DEFAULT_WHEELS)
    parser.add_argument("packages", nargs="+")
    args = parser.parse_args(argv)
    used = install(args.venv, args.constraints, args.packages, args.uncached.split(), installer=args.installer,
                   uv=args.uv, wheels=args.wheels)
    print(f"installed {len(args.packages)} package(s) and their dependencies with {used}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
