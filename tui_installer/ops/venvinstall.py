"""Install the OpenStack packages into the virtualenv: uv where it works, pip where it does not.

    python -m tui_installer.ops.venvinstall --venv PREFIX/venv --constraints FILE \\
        [--uncached "uWSGI"] [--installer auto|uv|pip] [--uv PATH] [--wheels DIR] PACKAGE...
    python -m tui_installer.ops.venvinstall --prefetch PYTHON --constraints FILE [--uv PATH] PACKAGE...

- uv (from PyPI, ``--uv`` or on PATH) resolves and installs with the same constraints file as pip
  (``uv pip install --python VENV/bin/python -c FILE``), several times faster; when uv is missing or
  fails, pip does the same install (``VENV/bin/pip install -c FILE``): the result is the same pins.
- packages without a usable wheel on PyPI (``--uncached``: uWSGI) are built here once, with pip's
  build and no cache (``pip wheel --no-cache-dir``), into ``WHEELS/<key>/`` where the key is a hash of
  the *interpreter* they were built for (its real path, version, ABI, include and library dirs) — the
  trap of docs/OPENSTACK-RECIPES.md (11): pip's and uv's wheel caches are keyed by the sdist, and a
  uWSGI wheel built for another Python 3.11 embeds that one. A later install for the same interpreter
  takes the wheel from there (``--no-index --find-links``); another interpreter gets its own build.

- uv's cache is kept per interpreter too (``WHEELS/../uv/<key>``): what uv builds from an sdist (ovs)
  is never handed to another interpreter.
- the uncached build (a compiler's work) runs while uv installs the rest (downloads, unpacking).
- ``--prefetch PYTHON``: fills that uv cache for PYTHON before the venv exists (an install into a
  throw-away ``--target``), without the uncached packages: it needs neither apt's python3-venv nor its
  compiler, so it runs beside apt's transaction; the install later takes everything from the cache.
  Best effort: a failure only says so (exit 0).

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


def _uv_env(cache: Path | None = None) -> dict[str, str]:
    """The system's CA store (as pip's PIP_CERT); the cache of this interpreter (``uv_cache``)."""
    env = {**os.environ, "UV_SYSTEM_CERTS": "1", "UV_NO_PROGRESS": "1"}
    if cache is not None and "UV_CACHE_DIR" not in os.environ:
        env["UV_CACHE_DIR"] = str(cache)
    return env


def uv_cache(wheels: Path, python: Path) -> Path:
    return wheels.parent / "uv" / interpreter_key(python)


def prefetch(python: Path, constraints: Path, packages: list[str], *, uv: str | None, wheels: Path) -> bool:
    """Download (and unpack) ``packages`` into this interpreter's uv cache; True when it worked."""
    uv = find_uv(uv)
    if uv is None:
        print("no uv: nothing prefetched (pip downloads during the install)", flush=True)
        return False
    cache = uv_cache(wheels, python)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tui-prefetch-") as target:
        ok = _run([uv, "pip", "install", "--python", str(python), "--target", target, "-c", str(constraints),
                   *packages], _uv_env(cache))
    print(f"prefetch into {cache}: {'done' if ok else 'failed (the install downloads what is missing)'}",
          flush=True)
    return ok


class Build:
    """The wheels of the uncached packages for this venv's interpreter: built in the background
    (``start``) unless already there; ``finish`` waits and returns their directory."""

    def __init__(self, venv: Path, constraints: Path, packages: list[str], wheels: Path) -> None:
        self.python = venv / "bin" / "python"
        self.target = wheels / interpreter_key(self.python)
        self.wanted = [p for p in packages if not _have_wheel(self.target, p)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmp: tempfile.TemporaryDirectory[str] | None = None
        if not self.wanted:
            print(f"uncached packages: wheels for this interpreter already in {self.target}", flush=True)
            return
        wheels.mkdir(parents=True, exist_ok=True)
        self.tmp = tempfile.TemporaryDirectory(dir=wheels, prefix=".build-")
        # --use-pep517: an isolated build with setuptools and wheel from the index (uWSGI's sdist has no
        # pyproject.toml, and a venv has no ``wheel`` for the legacy ``setup.py bdist_wheel``)
        argv = [str(venv / "bin" / "pip"), "wheel", "--no-input", "--no-deps", "--no-cache-dir", "--use-pep517",
                "-c", str(constraints), "-w", self.tmp.name, *self.wanted]
        print("+ " + " ".join(argv) + " &", flush=True)
        self.proc = subprocess.Popen(argv)

    def finish(self) -> Path:
        if self.proc is None or self.tmp is None:
            return self.target
        try:
            if self.proc.wait() != 0:
                raise SystemExit(f"building {' '.join(self.wanted)} for {self.python} failed")
            self.target.mkdir(exist_ok=True)
            for wheel in Path(self.tmp.name).glob("*.whl"):
                os.replace(wheel, self.target / wheel.name)  # whole files only: a killed build leaves none
        finally:
            self.tmp.cleanup()
        return self.target


def build_uncached(venv: Path, constraints: Path, packages: list[str], wheels: Path) -> Path:
    return Build(venv, constraints, packages, wheels).finish()


def _name(package: str) -> str:
    """A requirement's project name, normalised as wheel file names spell it (``uWSGI`` -> ``uwsgi``)."""
    return package.split("=")[0].split("<")[0].split(">")[0].split("!")[0].strip().lower().replace("-", "_")


def _have_wheel(directory: Path, package: str) -> bool:
    name = _name(package)
    return directory.is_dir() and any(w.name.lower().startswith(name + "-") for w in directory.glob("*.whl"))


def install(venv: Path, constraints: Path, packages: list[str], uncached: list[str], *, installer: str,
            uv: str | None, wheels: Path) -> str:
    """Returns the installer that did the main install ("uv" or "pip")."""
    python, pip = venv / "bin" / "python", venv / "bin" / "pip"
    uv = find_uv(uv) if installer in ("auto", "uv") else None
    if installer == "uv" and uv is None:
        raise SystemExit("--installer uv: uv not found")
    build = Build(venv, constraints, uncached, wheels) if uncached else None  # beside the main install
    built = {_name(p) for p in uncached}
    packages = [p for p in packages if _name(p) not in built]  # installed from their own wheels, after
    cache = uv_cache(wheels, python) if uv is not None else None
    used = "pip"
    if uv is not None:
        if _run([uv, "pip", "install", "--python", str(python), "-c", str(constraints), *packages],
                _uv_env(cache)):
            used = "uv"
        elif installer == "uv":
            if build is not None:
                build.finish()
            raise SystemExit("uv pip install failed")
        else:
            print("uv failed: installing with pip instead", flush=True)
    if used == "pip" and not _run([str(pip), "install", "--no-input", "-c", str(constraints), *packages]):
        if build is not None:
            build.finish()
        raise SystemExit("pip install failed")
    if build is not None:
        found = build.finish()
        local = ["--no-index", "--find-links", str(found), "-c", str(constraints), *uncached]
        if not (uv and _run([uv, "pip", "install", "--python", str(python), *local], _uv_env(cache))):
            if not _run([str(pip), "install", "--no-input", *local]):
                raise SystemExit(f"installing {' '.join(uncached)} from {found} failed")
    return used


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="venvinstall", description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path)
    parser.add_argument("--prefetch", type=Path, metavar="PYTHON", help="only fill the uv cache for PYTHON")
    parser.add_argument("--constraints", required=True, type=Path)
    parser.add_argument("--uncached", default="", help="packages built here for this interpreter (spaces)")
    parser.add_argument("--installer", choices=("auto", "uv", "pip"), default="auto")
    parser.add_argument("--uv", default=None, help="the uv binary (default: uv on PATH)")
    parser.add_argument("--wheels", type=Path, default=DEFAULT_WHEELS)
    parser.add_argument("packages", nargs="+")
    args = parser.parse_args(argv)
    if args.prefetch is not None:
        skip = {_name(p) for p in args.uncached.split()}
        prefetch(args.prefetch, args.constraints, [p for p in args.packages if _name(p) not in skip],
                 uv=args.uv, wheels=args.wheels)
        return 0
    if args.venv is None:
        parser.error("--venv is required (or --prefetch PYTHON)")
    used = install(args.venv, args.constraints, args.packages, args.uncached.split(), installer=args.installer,
                   uv=args.uv, wheels=args.wheels)
    print(f"installed {len(args.packages)} package(s) and their dependencies with {used}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
