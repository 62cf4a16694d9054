"""ops/venvinstall with real virtualenvs, real pip and the real uv binary, offline (a local package
directory stands for PyPI): uv installs with the constraints file, pip takes over when uv is missing or
fails, and a package built here (uWSGI's case) is built once per interpreter and reused from a directory
keyed by that interpreter, never from pip's or uv's sdist-keyed caches."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from tui_installer.ops import venvinstall

UV = Path(sys.executable).parent / "uv"  # the test extra's uv (pyproject: the version uv.yaml installs)


PROBE, DEP, EXT = "tui-installer-test-probe", "tui-installer-test-dep", "tui-installer-test-ext"


def _wheel(dist: Path, name: str, requires: list[str]) -> None:
    """A pure wheel written by hand (no build tool needed): one module, its metadata, its RECORD."""
    module, stem = name.replace("-", "_"), name.replace("-", "_") + "-1.0"
    files = {f"{module}.py": f"NAME = {name!r}\n",
             f"{stem}.dist-info/METADATA": "Metadata-Version: 2.1\nName: " + name + "\nVersion: 1.0\n"
             + "".join(f"Requires-Dist: {r}\n" for r in requires),
             f"{stem}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                        "Tag: py3-none-any\n"}
    files[f"{stem}.dist-info/RECORD"] = "".join(f"{f},,\n" for f in files) + f"{stem}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(dist / f"{stem}-py3-none-any.whl", "w") as whl:
        for path, text in files.items():
            whl.writestr(path, text)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local package directory: wheels of two pure packages (one requires the other) and the sdist of
    a package with a C extension and no wheel (uWSGI's case; its build tools come from the index)."""
    dist = tmp_path_factory.mktemp("dist")
    _wheel(dist, DEP, [])
    _wheel(dist, PROBE, [DEP])
    ext = tmp_path_factory.mktemp("src") / "tui_installer_test_ext-2.0"
    ext.mkdir()
    (ext / "tuiext.c").write_text(textwrap.dedent("""\
        #include <Python.h>
        static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "tuiext", NULL, -1, NULL};
        PyMODINIT_FUNC PyInit_tuiext(void) { return PyModule_Create(&m); }
        """))
    (ext / "setup.py").write_text(f"from setuptools import setup, Extension\nsetup(name={EXT!r}, version='2.0', "
                                  "ext_modules=[Extension('tuiext', ['tuiext.c'])])\n")
    (ext / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=61", "wheel"]\n'
                                        'build-backend = "setuptools.build_meta"\n')
    (ext / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {EXT}\nVersion: 2.0\n")
    with tarfile.open(dist / "tui_installer_test_ext-2.0.tar.gz", "w:gz") as tar:
        tar.add(ext, arcname=ext.name)
    return dist


def _venv(path: Path) -> Path:
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(path)], check=True)
    return path


def _run(venv: Path | None, dist: Path, tmp: Path, *more: str,
         **extra_env: str) -> subprocess.CompletedProcess[str]:
    """venvinstall with ``dist`` as the package source; uv's cache is its own (WHEELS/../uv/<key>)."""
    constraints = tmp / "c.txt"
    constraints.write_text(f"{PROBE}==1.0\n{DEP}==1.0\n{EXT}==2.0\n")
    env = {k: v for k, v in os.environ.items() if k != "UV_CACHE_DIR"}
    env.update({"PIP_FIND_LINKS": str(dist), "UV_FIND_LINKS": str(dist), "PIP_CONSTRAINT": "", **extra_env})
    where = ["--venv", str(venv)] if venv is not None else []
    return subprocess.run([sys.executable, "-m", "tui_installer.ops.venvinstall", *where,
                           "--constraints", str(constraints), "--wheels", str(tmp / "wheels"), *more,
                           PROBE], capture_output=True, text=True, env=env, timeout=600)


def _has(venv: Path, module: str) -> bool:
    return subprocess.run([str(venv / "bin" / "python"), "-c", f"import {module}"]).returncode == 0


def test_uv_installs_and_the_built_wheel_is_reused_for_the_same_interpreter(index: Path,
                                                                            tmp_path: Path) -> None:
    first = _run(_venv(tmp_path / "v1"), index, tmp_path, "--uv", str(UV), "--uncached", EXT)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "pip wheel" in first.stdout and "with uv" in first.stdout
    v1 = tmp_path / "v1"
    assert _has(v1, "tui_installer_test_probe") and _has(v1, "tui_installer_test_dep") and _has(v1, "tuiext")
    assert "Prepared" in first.stderr  # nothing cached yet: uv fetched and unpacked
    key = venvinstall.interpreter_key(tmp_path / "v1" / "bin" / "python")
    built = list((tmp_path / "wheels" / key).glob("*.whl"))
    assert [w.name.startswith("tui_installer_test_ext-2.0-") for w in built] == [True]
    second = _run(_venv(tmp_path / "v2"), index, tmp_path, "--uv", str(UV), "--uncached", EXT)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "pip wheel" not in second.stdout and "already in" in second.stdout  # built once
    assert _has(tmp_path / "v2", "tuiext")


def test_pip_takes_over_when_uv_is_missing_or_fails(index: Path, tmp_path: Path) -> None:
    missing = _run(_venv(tmp_path / "v1"), index, tmp_path, "--uv", str(tmp_path / "no-uv"))
    assert missing.returncode == 0, missing.stdout + missing.stderr
    assert "with pip" in missing.stdout and _has(tmp_path / "v1", "tui_installer_test_probe")
    broken = tmp_path / "broken-uv"
    broken.write_text("#!/bin/sh\necho uv is broken >&2\nexit 2\n")
    broken.chmod(0o755)
    failing = _run(_venv(tmp_path / "v2"), index, tmp_path, "--uv", str(broken))
    assert failing.returncode == 0, failing.stdout + failing.stderr
    assert "uv failed: installing with pip instead" in failing.stdout
    assert _has(tmp_path / "v2", "tui_installer_test_probe")
    forced = _run(_venv(tmp_path / "v3"), index, tmp_path, "--uv", str(broken), "--installer", "uv")
    assert forced.returncode != 0 and not _has(tmp_path / "v3", "tui_installer_test_probe")


def test_the_wheel_key_is_the_interpreter_not_the_venv(tmp_path: Path) -> None:
    """Two venvs of one interpreter share a key (one build serves both); the key changes with what a
    compiled extension depends on (the version, ABI, include and library dirs are all hashed)."""
    a = venvinstall.interpreter_key(_venv(tmp_path / "a") / "bin" / "python")
    b = venvinstall.interpreter_key(_venv(tmp_path / "b") / "bin" / "python")
    assert a == b == venvinstall.interpreter_key(Path("/usr/bin/python3"))
    assert a.startswith(f"py{sys.version_info.major}{sys.version_info.minor}-") or a.startswith("py3")


def test_prefetch_fills_this_interpreters_cache_before_the_venv_exists(index: Path, tmp_path: Path) -> None:
    """--prefetch PYTHON (the step beside apt) downloads into uv's cache of that interpreter; the install
    later prepares nothing (uv prints "Prepared N packages" only for what it had to fetch or unpack)."""
    fetched = _run(None, index, tmp_path, "--prefetch", "/usr/bin/python3", "--uv", str(UV))
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert "prefetch into" in fetched.stdout and ": done" in fetched.stdout
    key = venvinstall.interpreter_key(Path("/usr/bin/python3"))
    assert (tmp_path / "uv" / key).is_dir()
    assert "Prepared 2 packages" in fetched.stderr
    later = _run(_venv(tmp_path / "v"), index, tmp_path, "--uv", str(UV), "--installer", "uv")
    assert later.returncode == 0, later.stdout + later.stderr
    assert "Installed 2 packages" in later.stderr and "Prepared" not in later.stderr
    assert _has(tmp_path / "v", "tui_installer_test_probe")
    missing = _run(None, index, tmp_path, "--prefetch", "/usr/bin/python3", "--uv", str(tmp_path / "no-uv"))
    assert missing.returncode == 0 and "nothing prefetched" in missing.stdout
