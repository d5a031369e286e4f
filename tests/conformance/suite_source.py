"""Microsoft's test suite of an installed Azure SDK package (azure-keyvault-secrets, azure-cosmos), from
the sdist of the installed version.

A suite ships in the sdist on PyPI (`tests/`), never in the wheel. It is fetched with pip at test
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


CACHE = ROOT / ".devstack" / "conformance"


DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_RETRY_SECONDS = 5


def installed_version(package: str) -> str:
    return importlib.metadata.version(package)


def suite_tests(package: str, version: str, cache: Path = CACHE) -> Path:
    """The `tests/` folder of `package`'s sdist for `version`, fetched and extracted the first time only."""
    target = cache / f"{package.replace('-', '_')}-{version}-tests"
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        download = Path(scratch) / "download"
        _download_sdist(package, version, download)
        (sdist,) = download.glob("*.tar.gz")
        extracted = Path(scratch) / "tests"
        _extract_tests(sdist, extracted)
        # Renamed into place only when complete: an interrupted fetch leaves nothing that looks usable.
        extracted.rename(target)
    return target


def _download_sdist(package: str, version: str, into: Path) -> None:
    """pip download, tried a few times: a registry that answers an index request badly once (seen here
    as "No matching distribution found") must not fail the conformance run."""
    command = [
        *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
        *("--no-binary", ":all:", "--dest", str(into), f"{package}=={version}"),
    ]
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        if subprocess.run(command, check=False).returncode == 0:
            return
        if attempt < DOWNLOAD_ATTEMPTS:
            time.sleep(DOWNLOAD_RETRY_SECONDS * attempt)
    raise RuntimeError(f"pip could not download the {package} {version} sdist ({DOWNLOAD_ATTEMPTS} attempts)")


def _extract_tests(sdist: Path, into: Path) -> None:
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/", 1)[0]
        members = [m for m in archive.getmembers() if m.name.startswith(f"{top}/tests/")]
        if not members:
            raise RuntimeError(f"{sdist.name} has no tests/ folder")
        with tempfile.TemporaryDirectory(dir=into.parent) as unpacked:
            archive.extractall(unpacked, members=members, filter="data")
            shutil.move(Path(unpacked) / top / "tests", into)
