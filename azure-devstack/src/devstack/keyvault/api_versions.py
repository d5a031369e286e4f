"""The api-versions the vault answers, and how it refuses the others.

Key Vault answers an api-version it does not know with 400 `BadParameter`: "The specified version
(7.3) is not recognized. Consider using the latest supported version (7.1)." (quoted in
Azure/azure-sdk-for-python#28595, from a vault whose newest version was 7.1).

The versions known here are those the installed azure-keyvault-secrets can ask for (its `ApiVersion`,
so a newer SDK keeps working without a change here) and the previews the REST specs and SDK
recordings name for the secrets API. A preview Azure has retired may still be accepted locally.
"""

from __future__ import annotations

from collections.abc import Mapping

from azure.keyvault.secrets import ApiVersion

from devstack.keyvault.errors import bad_parameter, echo

PREVIEW_VERSIONS = frozenset(
    {
        "7.3-preview",
        "7.4-preview.1",
        "7.5-preview.1",
        "7.6-preview.1",
        "7.6-preview.2",
        "2025-06-01-preview",
        "2026-01-01-preview",
        "2026-03-01-preview",
    }
)

STABLE_VERSIONS = frozenset(version.value for version in ApiVersion)
KNOWN_VERSIONS = STABLE_VERSIONS | PREVIEW_VERSIONS


# Since 2025 the versions are dates (2016-10-01 came before 7.0, and is not the newest): the largest date.
LATEST_STABLE = max(version for version in STABLE_VERSIONS if "-" in version)


def api_version(query: Mapping[str, str]) -> str:
    version = query.get("api-version", "")
    if not version:
        raise bad_parameter("The api-version query parameter is missing or empty.")
    if version not in KNOWN_VERSIONS:
        raise bad_parameter(
            f"The specified version ({echo(version)}) is not recognized. "
            f"Consider using the latest supported version ({LATEST_STABLE})."
        )
    return version
