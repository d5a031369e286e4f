"""Azure's naming rules, checked on an evaluated deployment before `azd up` (or the local stack) meets them.

The rules come from Microsoft's "Naming rules and restrictions for Azure resources"
(https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules, cited in
each message as `resource-name-rules: <namespace>`), read in its March 2025 revision. The types the
page does not list name their own sources: Cosmos DB databases and containers (Azure Cosmos DB
service quotas, per-container limits; the SDKs' Resource.Id) and Cosmos DB role definitions and
assignments (the Cosmos DB resource provider REST reference). For blob containers the Blob service's
"Naming and Referencing Containers, Blobs, and Metadata" adds the last-character rule the page leaves
out. For private DNS zones the page gives "1-63 characters" and "2 to 34 labels", which only fit
together as the length of each label (DNS's own limit), and is read so.

Only what can be decided offline is checked: length, characters, first and last character,
consecutive hyphens, GUIDs and fixed names. Global uniqueness, reserved words and trademarks are
Azure's to judge. A name Azure computes during the deployment (`Deferred`) is skipped. `uniqueString()`
is a stand-in of Azure's length (13 characters), so the lengths of names built from it are right. Its
first character is a letter or a digit by chance, here and in Azure alike, and the two differ: a name
that must start with a letter (a Key Vault's) should not start with the token.

    for problem in check_names(deployment):
        print(problem)   # one line: the type in words, where in the Bicep, the value, the rule
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from infra_model.deployment import Deferred, DeployedResource, Deployment

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# What a Deferred value's text starts with; a name built from one (an f-string) is no longer a Deferred.
_ASSIGNED_BY_AZURE = Deferred.of("").removesuffix(">")
_ASCII_ALPHANUMERIC = frozenset(string.ascii_letters + string.digits)
_LOWERCASE_ALPHANUMERIC = frozenset(string.ascii_lowercase + string.digits)


@dataclass(frozen=True)
class Characters:
    """The characters a name may contain: `text` says which, `allows` decides one character."""

    text: str
    allows: Callable[[str], bool]


@dataclass(frozen=True)
class Edge:
    """A rule on the first or last character: `text` completes "…, starting with …"."""

    text: str
    holds: Callable[[str], bool]


@dataclass(frozen=True)
class NameRule:
    what: str  # the resource type in words, as a message names it
    source: str  # "resource-name-rules: Microsoft.KeyVault"
    length: tuple[int, int] = (1, 1)
    characters: Characters | None = None
    start: Edge | None = None
    end: Edge | None = None
    no_consecutive_hyphens: bool = False
    labels: tuple[int, int] | None = None  # a DNS name: how many labels; `length` is then each label's
    guid: bool = False
    only: tuple[str, ...] = ()  # the one name (or names) Azure accepts

    def describe(self) -> str:
        """What Azure allows, completing "Azure allows …"."""
        if self.only:
            return "only " + " or ".join(f"'{name}'" for name in self.only)
        if self.guid:
            return "only a GUID (8-4-4-4-12 hexadecimal digits)"
        low, high = self.length
        allowed = f"{low}-{high} {self.characters.text if self.characters else 'characters'}"
        if self.labels is not None:
            allowed = f"{self.labels[0]}-{self.labels[1]} labels of {allowed} separated by periods"
        parts = [allowed]
        parts += [edge.text for edge in (self.start, self.end) if edge is not None]
        if self.no_consecutive_hyphens:
            parts.append("no consecutive hyphens")
        return ", ".join(parts)

    def problems(self, name: str) -> list[str]:
        """What is wrong with `name`, each as a phrase completing "<name> …"; empty when Azure accepts it."""
        if self.only:
            return [] if name in self.only else ["is not " + " or ".join(f"'{n}'" for n in self.only)]
        if self.guid:
            return [] if _GUID.fullmatch(name) else ["is not a GUID"]
        found = []
        low, high = self.length
        if not name:
            found.append("is empty")
        elif self.labels is None and not low <= len(name) <= high:
            found.append(f"is {len(name)} character{'' if len(name) == 1 else 's'}")
        separator = "." if self.labels is not None else ""
        bad: list[str] = []
        if self.characters is not None:
            bad = [c for c in dict.fromkeys(name) if c != separator and not self.characters.allows(c)]
            if bad:
                found.append("contains " + ", ".join(_shown(c) for c in bad))
        if self.labels is not None and name:
            labels = name.split(".")
            if not self.labels[0] <= len(labels) <= self.labels[1]:
                found.append(f"has {len(labels)} label{'' if len(labels) == 1 else 's'}")
            if "" in labels:
                found.append("has an empty label")
            found += [f"has a label of {len(label)} characters" for label in labels if len(label) > high][:1]
        # A first or last character already reported as not allowed at all is not reported again.
        if self.start is not None and name and name[0] not in bad and not self.start.holds(name[0]):
            found.append(f"starts with {_shown(name[0])}")
        if self.end is not None and name and name[-1] not in bad and not self.end.holds(name[-1]):
            found.append(f"ends with {_shown(name[-1])}")
        if self.no_consecutive_hyphens and "--" in name:
            found.append("has consecutive hyphens")
        return found


@dataclass(frozen=True)
class NameProblem:
    """A name Azure would refuse; str() is the one line that says so."""

    resource_type: str
    value: str
    source: str  # where in the Bicep: "modules/key-vault.bicep:vault"
    problems: tuple[str, ...]
    rule: NameRule

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return (
            f"{self.rule.what} name '{self.value}'{where} {_joined(self.problems)}; "
            f"Azure allows {self.rule.describe()} ({self.rule.source})"
        )


# ---- characters and edges ------------------------------------------------------------------------


def _ascii(extra: str = "", *, lowercase: bool = False) -> Callable[[str], bool]:
    allowed = (_LOWERCASE_ALPHANUMERIC if lowercase else _ASCII_ALPHANUMERIC) | frozenset(extra)
    return allowed.__contains__


def _punycode(c: str) -> bool:
    """Alphanumerics, hyphens, and Unicode characters that can be mapped to Punycode (IDNA)."""
    if c.isascii():
        return c in _ASCII_ALPHANUMERIC or c == "-"
    try:
        return bool(c.encode("idna"))
    except UnicodeError:
        return False


def _letter_or_digit(c: str) -> bool:
    """.NET's Char.IsLetterOrDigit, which the page names for resource groups."""
    return unicodedata.category(c) in {"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"}


def _none_of(forbidden: str) -> Callable[[str], bool]:
    return lambda c: c not in forbidden and unicodedata.category(c) != "Cc"


ALPHANUMERICS_AND_HYPHENS = Characters("alphanumerics and hyphens", _ascii("-"))
NETWORK_CHARACTERS = Characters("alphanumerics, underscores, periods and hyphens", _ascii("_.-"))
LETTER = Edge("starting with a letter", lambda c: c in string.ascii_letters)
ALPHANUMERIC_START = Edge("starting with a letter or digit", _ascii())
ALPHANUMERIC_END = Edge("ending with a letter or digit", _ascii())
NETWORK_END = Edge("ending with a letter, digit or underscore", _ascii("_"))

_COSMOS_IDS = (
    "Azure Cosmos DB service quotas: per-container limits; Cosmos DB Resource.Id: '/', '\\', '?', '#' are restricted"
)

# ---- the rules, by resource type -----------------------------------------------------------------

KEY_VAULT = NameRule(
    "Key Vault",
    "resource-name-rules: Microsoft.KeyVault",
    length=(3, 24),
    characters=ALPHANUMERICS_AND_HYPHENS,
    start=LETTER,
    end=ALPHANUMERIC_END,
    no_consecutive_hyphens=True,
)
KEY_VAULT_SECRET = NameRule(
    "Key Vault secret",
    "resource-name-rules: Microsoft.KeyVault",
    length=(1, 127),
    characters=ALPHANUMERICS_AND_HYPHENS,
)
SUBNET = NameRule(
    "Subnet",
    "resource-name-rules: Microsoft.Network",
    length=(1, 80),
    characters=NETWORK_CHARACTERS,
    start=ALPHANUMERIC_START,
    end=NETWORK_END,
)

RULES: Mapping[str, NameRule] = {
    "Microsoft.KeyVault/vaults": KEY_VAULT,
    "Microsoft.KeyVault/vaults/secrets": KEY_VAULT_SECRET,
    "Microsoft.Storage/storageAccounts": NameRule(
        "Storage account",
        "resource-name-rules: Microsoft.Storage",
        length=(3, 24),
        characters=Characters("lowercase letters and digits", _ascii(lowercase=True)),
    ),
    "Microsoft.Storage/storageAccounts/blobServices": NameRule(
        "Blob service", "resource-name-rules: Microsoft.Storage", only=("default",)
    ),
    "Microsoft.Storage/storageAccounts/blobServices/containers": NameRule(
        "Blob container",
        "resource-name-rules: Microsoft.Storage; Naming and Referencing Containers, Blobs, and Metadata",
        length=(3, 63),
        characters=Characters("lowercase letters, digits and hyphens", _ascii("-", lowercase=True)),
        start=Edge("starting with a lowercase letter or digit", _ascii(lowercase=True)),
        end=Edge("ending with a lowercase letter or digit", _ascii(lowercase=True)),
        no_consecutive_hyphens=True,
    ),
    "Microsoft.Storage/storageAccounts/managementPolicies": NameRule(
        "Storage management policy", "resource-name-rules: Microsoft.Storage", only=("default",)
    ),
    "Microsoft.DocumentDB/databaseAccounts": NameRule(
        "Cosmos DB account",
        "resource-name-rules: Microsoft.DocumentDB",
        length=(3, 44),
        characters=Characters("lowercase letters, digits and hyphens", _ascii("-", lowercase=True)),
        start=Edge("starting with a lowercase letter or digit", _ascii(lowercase=True)),
    ),
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases": NameRule(
        "Cosmos DB database",
        _COSMOS_IDS,
        length=(1, 255),
        characters=Characters("characters other than /, \\, ? and #", _none_of("/\\?#")),
    ),
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers": NameRule(
        "Cosmos DB container",
        _COSMOS_IDS,
        length=(1, 255),
        characters=Characters("characters other than /, \\, ? and #", _none_of("/\\?#")),
    ),
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions": NameRule(
        "Cosmos DB role definition",
        "Cosmos DB resource provider REST: Create Update Sql Role Definition, roleDefinitionId",
        guid=True,
    ),
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments": NameRule(
        "Cosmos DB role assignment",
        "Cosmos DB resource provider REST: Create Update Sql Role Assignment, roleAssignmentId",
        guid=True,
    ),
    "Microsoft.Web/sites": NameRule(
        "Function app",
        "resource-name-rules: Microsoft.Web",
        length=(2, 60),
        characters=Characters("alphanumerics, hyphens and Unicode characters that map to Punycode", _punycode),
        start=Edge("not starting with a hyphen", lambda c: c != "-"),
        end=Edge("not ending with a hyphen", lambda c: c != "-"),
    ),
    "Microsoft.Web/serverfarms": NameRule(
        "App Service plan",
        "resource-name-rules: Microsoft.Web",
        length=(1, 60),
        characters=Characters("alphanumerics, hyphens and Unicode characters that map to Punycode", _punycode),
    ),
    "Microsoft.ManagedIdentity/userAssignedIdentities": NameRule(
        "User-assigned identity",
        "resource-name-rules: Microsoft.ManagedIdentity",
        length=(3, 128),
        characters=Characters("alphanumerics, hyphens and underscores", _ascii("-_")),
        start=ALPHANUMERIC_START,
    ),
    "Microsoft.OperationalInsights/workspaces": NameRule(
        "Log Analytics workspace",
        "resource-name-rules: Microsoft.OperationalInsights",
        length=(4, 63),
        characters=ALPHANUMERICS_AND_HYPHENS,
        start=ALPHANUMERIC_START,
        end=ALPHANUMERIC_END,
    ),
    "Microsoft.Insights/components": NameRule(
        "Application Insights",
        "resource-name-rules: Microsoft.Insights",
        length=(1, 260),
        characters=Characters("characters other than %, &, \\, ?, / and control characters", _none_of("%&\\?/")),
        end=Edge("not ending with a space or period", lambda c: c not in " ."),
    ),
    "Microsoft.Network/virtualNetworks": NameRule(
        "Virtual network",
        "resource-name-rules: Microsoft.Network",
        length=(2, 64),
        characters=NETWORK_CHARACTERS,
        start=ALPHANUMERIC_START,
        end=NETWORK_END,
    ),
    "Microsoft.Network/virtualNetworks/subnets": SUBNET,
    "Microsoft.Network/privateEndpoints": NameRule(
        "Private endpoint",
        "resource-name-rules: Microsoft.Network",
        length=(2, 64),
        characters=NETWORK_CHARACTERS,
        start=ALPHANUMERIC_START,
        end=NETWORK_END,
    ),
    "Microsoft.Network/privateDnsZones": NameRule(
        "Private DNS zone",
        "resource-name-rules: Microsoft.Network",
        length=(1, 63),
        characters=Characters("alphanumerics, underscores and hyphens", _ascii("_-")),
        labels=(2, 34),
    ),
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": NameRule(
        "Private DNS zone link",
        "resource-name-rules: Microsoft.Network",
        length=(1, 80),
        characters=NETWORK_CHARACTERS,
        start=ALPHANUMERIC_START,
        end=NETWORK_END,
    ),
    "Microsoft.Resources/resourceGroups": NameRule(
        "Resource group",
        "resource-name-rules: Microsoft.Resources",
        length=(1, 90),
        characters=Characters(
            "letters, digits, underscores, hyphens, periods and parentheses",
            lambda c: c in "_-.()" or _letter_or_digit(c),
        ),
        end=Edge("not ending with a period", lambda c: c != "."),
    ),
    "Microsoft.Authorization/roleAssignments": NameRule(
        "Role assignment", "resource-name-rules: Microsoft.Authorization", guid=True
    ),
    "Microsoft.Authorization/roleDefinitions": NameRule(
        "Role definition", "resource-name-rules: Microsoft.Authorization", guid=True
    ),
}
_BY_TYPE = {resource_type.lower(): rule for resource_type, rule in RULES.items()}
VIRTUAL_NETWORK = "Microsoft.Network/virtualNetworks"


def rule_for(resource_type: str) -> NameRule | None:
    """The naming rule of a resource type (case-insensitive, as ARM compares types); None when none is known."""
    return _BY_TYPE.get(resource_type.lower())


def check_names(deployment: Deployment) -> list[NameProblem]:
    """Every name in the deployment that Azure would refuse, in deployment order.

    Each resource's own name segment is checked against its type's rule; subnets declared inside a
    virtual network are checked too. Types without a known rule, and names Azure assigns during the
    deployment, are skipped."""
    return [problem for resource in deployment.resources for problem in _resource_problems(resource)]


def name_problem(resource_type: str, name: str, *, where: str = "") -> NameProblem | None:
    """The problem with one name of a type, if Azure would refuse it; None when it is fine or no rule is known."""
    rule = rule_for(resource_type)
    if rule is None or assigned_by_azure(name):
        return None
    problems = rule.problems(name)
    return NameProblem(resource_type, name, where, tuple(problems), rule) if problems else None


def secret_name_problem(name: str, *, where: str = "") -> str | None:
    """The line saying why Key Vault would refuse a secret name (1-127 alphanumerics and hyphens), or None.

    `where` says where the name comes from, e.g. the declaration and resource that name it."""
    problem = name_problem("Microsoft.KeyVault/vaults/secrets", name, where=where)
    return None if problem is None else str(problem)


def assigned_by_azure(value: Any) -> bool:
    """Whether a value is (or is built from) one Azure assigns during the deployment."""
    return isinstance(value, Deferred) or _ASSIGNED_BY_AZURE in str(value)


def _resource_problems(resource: DeployedResource) -> Iterator[NameProblem]:
    problem = name_problem(resource.type, resource.short_name, where=resource.source)
    if problem is not None:
        yield problem
    if resource.type.lower() == VIRTUAL_NETWORK.lower():
        for subnet in resource.properties.get("subnets") or []:
            name = subnet.get("name") if isinstance(subnet, Mapping) else None
            if isinstance(name, str) and not assigned_by_azure(name):
                problems = SUBNET.problems(name)
                if problems:
                    yield NameProblem(f"{VIRTUAL_NETWORK}/subnets", name, resource.source, tuple(problems), SUBNET)


def _shown(c: str) -> str:
    return f"'{c}'" if c.isprintable() and c != "'" else repr(c)


def _joined(phrases: tuple[str, ...] | list[str]) -> str:
    if len(phrases) <= 1:
        return "".join(phrases)
    return f"{', '.join(phrases[:-1])} and {phrases[-1]}"
