"""infra_model.naming states Azure's naming rules: each rule's boundaries, and the one-line messages.

Each case is a name just inside or just outside one limit of one rule (resource-name-rules and the
pages naming.py cites), so a rule that drifts by one character fails here.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from infra_model.deployment import Context, Deployment, Principal, load
from infra_model.naming import RULES, check_names, name_problem, rule_for, secret_name_problem

VAULT = "Microsoft.KeyVault/vaults"
SECRET = "Microsoft.KeyVault/vaults/secrets"
STORAGE = "Microsoft.Storage/storageAccounts"
BLOB_SERVICE = "Microsoft.Storage/storageAccounts/blobServices"
CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"
POLICY = "Microsoft.Storage/storageAccounts/managementPolicies"
COSMOS = "Microsoft.DocumentDB/databaseAccounts"
COSMOS_DATABASE = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases"
COSMOS_CONTAINER = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"
COSMOS_ROLE = "Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions"
COSMOS_ASSIGNMENT = "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"
SITE = "Microsoft.Web/sites"
PLAN = "Microsoft.Web/serverfarms"
IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"
WORKSPACE = "Microsoft.OperationalInsights/workspaces"
INSIGHTS = "Microsoft.Insights/components"
VNET = "Microsoft.Network/virtualNetworks"
SUBNET = "Microsoft.Network/virtualNetworks/subnets"
ENDPOINT = "Microsoft.Network/privateEndpoints"
ZONE = "Microsoft.Network/privateDnsZones"
ZONE_LINK = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
GROUP = "Microsoft.Resources/resourceGroups"
ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
DEFINITION = "Microsoft.Authorization/roleDefinitions"

A_GUID = "0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011"

# (type, name) Azure accepts: the shortest and longest allowed, and each allowed kind of character.
ACCEPTED = [
    (VAULT, "abc"),
    (VAULT, "a" + "1" * 23),
    (VAULT, "Ab-1-c"),
    (SECRET, "a"),
    (SECRET, "1" * 127),
    (SECRET, "-a-B-"),
    (STORAGE, "ab1"),
    (STORAGE, "a" * 24),
    (BLOB_SERVICE, "default"),
    (CONTAINER, "a1b"),
    (CONTAINER, "1" + "a-b" * 20 + "cd"),
    (POLICY, "default"),
    (COSMOS, "a-1"),
    (COSMOS, "1" * 44),
    (COSMOS, "ab-"),
    (COSMOS_DATABASE, "x"),
    (COSMOS_DATABASE, "A b_.-" + "x" * 249),
    (COSMOS_CONTAINER, "y" * 255),
    (COSMOS_ROLE, A_GUID),
    (COSMOS_ASSIGNMENT, A_GUID.upper()),
    (SITE, "ab"),
    (SITE, "a" * 60),
    (SITE, "bücher-1"),
    (PLAN, "p"),
    (PLAN, "-" + "p" * 59),
    (IDENTITY, "1_a"),
    (IDENTITY, "a" * 128),
    (WORKSPACE, "ab-1"),
    (WORKSPACE, "a" * 63),
    (INSIGHTS, "a"),
    (INSIGHTS, "A (b)_-x" + "y" * 252),
    (VNET, "a_"),
    (VNET, "a" * 64),
    (SUBNET, "s"),
    (SUBNET, "s.e_t-1" + "x" * 73),
    (ENDPOINT, "e_"),
    (ENDPOINT, "e" * 64),
    (ZONE, "a.b"),
    (ZONE, "privatelink.x_y-z.core.windows.net"),
    (ZONE, "a" * 63 + "." + "b" * 63),
    (ZONE, ".".join("a" * 34)),
    (ZONE_LINK, "l"),
    (ZONE_LINK, "l" * 80),
    (GROUP, "r"),
    (GROUP, "rg_(x)-ü.1" + "g" * 80),
    (ASSIGNMENT, A_GUID),
    (DEFINITION, A_GUID),
]

# (type, name, the phrase the problem must say): each just outside one limit.
REFUSED = [
    (VAULT, "ab", "is 2 characters"),
    (VAULT, "a" * 25, "is 25 characters"),
    (VAULT, "1ab", "starts with '1'"),
    (VAULT, "-ab", "starts with '-'"),
    (VAULT, "ab-", "ends with '-'"),
    (VAULT, "a--b", "has consecutive hyphens"),
    (VAULT, "a_b", "contains '_'"),
    (SECRET, "", "is empty"),
    (SECRET, "s" * 128, "is 128 characters"),
    (SECRET, "a_b.c", "contains '_', '.'"),
    (STORAGE, "ab", "is 2 characters"),
    (STORAGE, "a" * 25, "is 25 characters"),
    (STORAGE, "abC", "contains 'C'"),
    (STORAGE, "ab-c", "contains '-'"),
    (BLOB_SERVICE, "blobs", "is not 'default'"),
    (CONTAINER, "ab", "is 2 characters"),
    (CONTAINER, "a" * 64, "is 64 characters"),
    (CONTAINER, "Abc", "contains 'A'"),
    (CONTAINER, "-ab", "starts with '-'"),
    (CONTAINER, "ab-", "ends with '-'"),
    (CONTAINER, "a--b", "has consecutive hyphens"),
    (CONTAINER, "a_b", "contains '_'"),
    (POLICY, "Default", "is not 'default'"),
    (COSMOS, "ab", "is 2 characters"),
    (COSMOS, "a" * 45, "is 45 characters"),
    (COSMOS, "-ab", "starts with '-'"),
    (COSMOS, "abC", "contains 'C'"),
    (COSMOS_DATABASE, "", "is empty"),
    (COSMOS_DATABASE, "d" * 256, "is 256 characters"),
    (COSMOS_DATABASE, "a/b", "contains '/'"),
    (COSMOS_CONTAINER, "a#b?c\\d", "contains '#', '?', '\\'"),
    (COSMOS_ROLE, "app-role", "is not a GUID"),
    (COSMOS_ASSIGNMENT, A_GUID.replace("-", ""), "is not a GUID"),
    (SITE, "a", "is 1 character"),
    (SITE, "a" * 61, "is 61 characters"),
    (SITE, "-ab", "starts with '-'"),
    (SITE, "ab-", "ends with '-'"),
    (SITE, "a_b", "contains '_'"),
    (PLAN, "", "is empty"),
    (PLAN, "p" * 61, "is 61 characters"),
    (PLAN, "a.b", "contains '.'"),
    (IDENTITY, "ab", "is 2 characters"),
    (IDENTITY, "a" * 129, "is 129 characters"),
    (IDENTITY, "_ab", "starts with '_'"),
    (IDENTITY, "a.b", "contains '.'"),
    (WORKSPACE, "abc", "is 3 characters"),
    (WORKSPACE, "a" * 64, "is 64 characters"),
    (WORKSPACE, "-abc", "starts with '-'"),
    (WORKSPACE, "abc-", "ends with '-'"),
    (WORKSPACE, "a_bc", "contains '_'"),
    (INSIGHTS, "", "is empty"),
    (INSIGHTS, "a" * 261, "is 261 characters"),
    (INSIGHTS, "a/b%", "contains '/', '%'"),
    (INSIGHTS, "ab.", "ends with '.'"),
    (INSIGHTS, "ab ", "ends with ' '"),
    (INSIGHTS, "a\x01b", "contains '\\x01'"),
    (VNET, "a", "is 1 character"),
    (VNET, "a" * 65, "is 65 characters"),
    (VNET, "_ab", "starts with '_'"),
    (VNET, "ab.", "ends with '.'"),
    (VNET, "a b", "contains ' '"),
    (SUBNET, "", "is empty"),
    (SUBNET, "s" * 81, "is 81 characters"),
    (SUBNET, "s-", "ends with '-'"),
    (ENDPOINT, "e", "is 1 character"),
    (ENDPOINT, "e" * 65, "is 65 characters"),
    (ENDPOINT, ".e", "starts with '.'"),
    (ZONE, "local", "has 1 label"),
    (ZONE, "a..b", "has an empty label"),
    (ZONE, "a.b.", "has an empty label"),
    (ZONE, "a" * 64 + ".b", "has a label of 64 characters"),
    (ZONE, "", "is empty"),
    (ZONE, ".".join("a" * 35), "has 35 labels"),
    (ZONE, "a b.c", "contains ' '"),
    (ZONE_LINK, "", "is empty"),
    (ZONE_LINK, "l" * 81, "is 81 characters"),
    (ZONE_LINK, "l-", "ends with '-'"),
    (GROUP, "", "is empty"),
    (GROUP, "g" * 91, "is 91 characters"),
    (GROUP, "rg.", "ends with '.'"),
    (GROUP, "rg#1", "contains '#'"),
    (GROUP, "rg²", "contains '²'"),
    (ASSIGNMENT, "assignment", "is not a GUID"),
    (DEFINITION, A_GUID + "0", "is not a GUID"),
]


@pytest.mark.parametrize(("resource_type", "name"), ACCEPTED, ids=lambda v: str(v)[:40])
def test_azure_accepts(resource_type: str, name: str) -> None:
    problem = name_problem(resource_type, name)
    assert problem is None, f"{name!r} ({len(name)} characters) is a valid {resource_type} name, but: {problem}"


@pytest.mark.parametrize(("resource_type", "name", "phrase"), REFUSED, ids=lambda v: str(v)[:40])
def test_azure_refuses(resource_type: str, name: str, phrase: str) -> None:
    problem = name_problem(resource_type, name, where="x.bicep:thing")
    assert problem is not None, f"{name!r} is not a valid {resource_type} name, and no problem was found"
    line = str(problem)
    assert f" (x.bicep:thing) {phrase}" in line, f"expected {phrase!r} right after the location in: {line}"
    assert "\n" not in line, f"a problem is one line: {line!r}"


def test_every_rule_has_a_boundary_on_each_side() -> None:
    accepted = {t for t, _ in ACCEPTED}
    refused = {t for t, _, _ in REFUSED}
    assert set(RULES) <= accepted & refused, f"rules without cases: {sorted(set(RULES) - (accepted & refused))}"


def test_a_problem_is_one_line_naming_type_location_value_and_rule() -> None:
    problem = name_problem(VAULT, "kv-abcdefghijklmnopqrstuvwxy", where="modules/key-vault.bicep:vault")
    assert str(problem) == (
        "Key Vault name 'kv-abcdefghijklmnopqrstuvwxy' (modules/key-vault.bicep:vault) is 28 characters; "
        "Azure allows 3-24 alphanumerics and hyphens, starting with a letter, ending with a letter or digit, "
        "no consecutive hyphens (resource-name-rules: Microsoft.KeyVault)"
    )


def test_several_problems_are_joined_in_one_sentence() -> None:
    problem = name_problem(CONTAINER, "-a--b_", where="w")
    assert str(problem).startswith("Blob container name '-a--b_' (w) contains '_', starts with '-' and has consecutive")


def test_a_character_refused_everywhere_is_not_also_reported_as_the_first() -> None:
    problem = name_problem(CONTAINER, "Upper", where="w")
    assert problem is not None
    assert problem.problems == ("contains 'U'",)


def test_types_are_matched_case_insensitively_and_unknown_types_are_not_judged() -> None:
    assert rule_for("microsoft.keyvault/VAULTS") is RULES[VAULT]
    assert name_problem("Microsoft.Example/widgets", "!!") is None


def test_secret_names() -> None:
    assert secret_name_problem("hook-a1") is None
    assert secret_name_problem("x" * 127) is None
    assert secret_name_problem("hook_a", where="app.toml: hooks") == (
        "Key Vault secret name 'hook_a' (app.toml: hooks) contains '_'; "
        "Azure allows 1-127 alphanumerics and hyphens (resource-name-rules: Microsoft.KeyVault)"
    )
    assert secret_name_problem("y" * 128) == (
        f"Key Vault secret name '{'y' * 128}' is 128 characters; "
        "Azure allows 1-127 alphanumerics and hyphens (resource-name-rules: Microsoft.KeyVault)"
    )


# ---- check_names over an evaluated deployment ------------------------------------------------------

MAIN = """targetScope = 'subscription'
param vaultName string
param containerName string
param subnetName string

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-naming'
  location: 'here'
}

module parts 'parts.bicep' = {
  name: 'parts'
  scope: group
  params: {
    vaultName: vaultName
    containerName: containerName
    subnetName: subnetName
  }
}
"""

PARTS = """param vaultName string
param containerName string
param subnetName string

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: vaultName
  location: 'here'
  properties: {}
}

resource account 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: 'st${uniqueString(vaultName)}'
  location: 'here'
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: account
  name: 'default'
}

resource box 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobs
  name: containerName
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-x'
  location: 'here'
  kind: 'web'
  properties: {}
}

// Named from a value Azure assigns: not judged offline.
resource later 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: 'x${insights.properties.InstrumentationKey}'
  location: 'here'
}

resource network 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-x'
  location: 'here'
  properties: {
    subnets: [
      {
        name: subnetName
        properties: {}
      }
    ]
  }
}

resource widget 'Microsoft.Example/widgets@2024-01-01' = {
  name: '!! no rule known !!'
}
"""


def principal(resource_id: str, _kind: str) -> Principal:
    return Principal(str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id)), "client", "tenant")


def deploy(tmp_path: Path, **parameters: str) -> Deployment:
    (tmp_path / "main.bicep").write_text(MAIN)
    (tmp_path / "parts.bicep").write_text(PARTS)
    values = {"vaultName": "kv-fine", "containerName": "box-1", "subnetName": "s1", **parameters}
    return load(tmp_path, values, Context("00000000-0000-0000-0000-000000000001", "tenant", principal))


def test_a_deployment_within_the_rules_has_no_problems(tmp_path: Path) -> None:
    assert [str(p) for p in check_names(deploy(tmp_path))] == []


def test_each_bad_name_is_reported_once_with_its_bicep_location(tmp_path: Path) -> None:
    broken = deploy(tmp_path, vaultName="kv-" + "v" * 22, containerName="Box", subnetName="s-")
    assert [str(p) for p in check_names(broken)] == [
        f"Key Vault name 'kv-{'v' * 22}' (parts.bicep:vault) is 25 characters; Azure allows 3-24 alphanumerics "
        "and hyphens, starting with a letter, ending with a letter or digit, no consecutive hyphens "
        "(resource-name-rules: Microsoft.KeyVault)",
        "Blob container name 'Box' (parts.bicep:box) contains 'B'; Azure allows 3-63 lowercase letters, digits "
        "and hyphens, starting with a lowercase letter or digit, ending with a lowercase letter or digit, "
        "no consecutive hyphens (resource-name-rules: Microsoft.Storage; Naming and Referencing Containers, "
        "Blobs, and Metadata)",
        "Subnet name 's-' (parts.bicep:network) ends with '-'; Azure allows 1-80 alphanumerics, underscores, "
        "periods and hyphens, starting with a letter or digit, ending with a letter, digit or underscore "
        "(resource-name-rules: Microsoft.Network)",
    ]


def test_names_built_from_values_azure_assigns_are_skipped(tmp_path: Path) -> None:
    deployment = deploy(tmp_path)
    later = next(r for r in deployment.resources if r.symbol == "later")
    assert "assigned by Azure" in later.short_name, "the fixture no longer builds a name from an assigned value"
    assert not [p for p in check_names(deployment) if p.source == later.source]
