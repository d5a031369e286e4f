"""Microsoft's azure-keyvault-secrets test suite, from the sdist of the installed version.

The suite ships in the sdist on PyPI (`tests/`), never in the wheel. It is fetched with pip at test
time and kept under `.devstack/conformance/`, one folder per version, so a run needs the network
only the first time for each version. Only `tests/` is extracted: the SDK under test is the one
installed in the venv, not the sdist's copy of its sources.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root


PACKAGE = "azure-keyvault-secrets"
CACHE = ROOT / ".devstack" / "conformance"


DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_RETRY_SECONDS = 5


def installed_version() -> str:
    return importlib.metadata.version(PACKAGE)


def suite_tests(version: str, cache: Path = CACHE) -> Path:
    """The suite's `tests/` folder for `version`, fetched and extracted the first time only."""
    target = cache / f"azure_keyvault_secrets-{version}-tests"
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        download = Path(scratch) / "download"
        _download_sdist(version, download)
        (sdist,) = download.glob("*.tar.gz")
        extracted = Path(scratch) / "tests"
        _extract_tests(sdist, extracted)
        # Renamed into place only when complete: an interrupted fetch leaves nothing that looks usable.
        extracted.rename(target)
    return target


def _download_sdist(version: str, into: Path) -> None:
    """pip download, tried a few times: a registry that answers an index request badly once (seen here
    as "No matching distribution found") must not fail the conformance run."""
    command = [
        *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
        *("--no-binary", ":all:", "--dest", str(into), f"{PACKAGE}=={version}"),
    ]
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        if subprocess.run(command, check=False).returncode == 0:
            return
        if attempt < DOWNLOAD_ATTEMPTS:
            time.sleep(DOWNLOAD_RETRY_SECONDS * attempt)
    raise RuntimeError(f"pip could not download the {PACKAGE} {version} sdist ({DOWNLOAD_ATTEMPTS} attempts)")


def _extract_tests(sdist: Path, into: Path) -> None:
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/", 1)[0]
        members = [m for m in archive.getmembers() if m.name.startswith(f"{top}/tests/")]
        if not members:
            raise RuntimeError(f"{sdist.name} has no tests/ folder")
        with tempfile.TemporaryDirectory(dir=into.parent) as unpacked:
            archive.extractall(unpacked, members=members, filter="data")
            shutil.move(Path(unpacked) / top / "tests", into)
