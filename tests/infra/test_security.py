"""Security requirements on infra/ and the deploy workflow, each with the mistake it exists to catch.

The infra rules evaluate main.bicep as a deployment would (infra_model), in each identity kind and,
where it matters, each networking mode, and state what must hold rather than this template's values:
- the archive is tamper-proof against the app: wherever the app declares no `blobs/write`, no role it
  holds (at the container, the account or above, built-in or custom) lets it replace, delete, move, retag
  or re-permission a blob or delete the container; it can still create and read;
- a custom Azure RBAC role (`roleDefinitions`) lives in access.bicep, names its data actions one by one,
  has no control-plane action, and can be assigned in its resource group only;
- the data account keeps deleted blobs and containers (PSRule Azure.Storage.SoftDelete and
  Azure.Storage.ContainerSoftDelete) without permanent delete;
- Cosmos DB uses continuous backup (PSRule Azure.Cosmos.ContinuousBackup);
- with private networking, every subnet has a network security group that applies (PSRule
  Azure.VNET.UseNSGs; for private endpoints, privateEndpointNetworkPolicies), each NSG passes PSRule's
  Azure.NSG.AnyInboundSource, Azure.NSG.DenyAllInbound and Azure.NSG.LateralTraversal, and the private
  endpoints answer HTTPS from the app's subnet and nothing else in the VNet;
- a body of MAX_PAYLOAD_BYTES still travels in one Put Blob, which the create-only role allows.

The workflow rule: a job that may request GitHub's OIDC token (`id-token: write`) never runs for a pull
request (whose run uses its own branch's workflow file) and always runs in a GitHub environment (whose
required reviewers gate it, and whose name is the token subject the federated credential trusts); a
job that provisions turns the developer roles off (DEVELOPER_ACCESS=false).

PSRule for Azure cannot run here (it needs PowerShell); the PSRule rules named above are its published
definitions (Azure/PSRule.Rules.Azure, rules/Azure.Storage.Rule.ps1, Azure.Cosmos.Rule.yaml,
Azure.VNET.Rule.ps1, Azure.NSG.Rule.ps1) restated over the evaluated deployment.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from devstack.declaration import Declaration
from infra_model import access
from infra_model.authorization import Authorizer
from infra_model.deployment import Context, DeployedResource, Deployment, Principal, load
from infra_model.resources import app_resources
from infra_model.syntax import Infra, call_arguments
from ruamel.yaml import YAML

from webhooks.settings import MAX_SINGLE_PUT_BYTES

from . import rules
from .conftest import DECLARATION, copy_infra, drop_resource, replace_text

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
HOME = "modules/access.bicep"

# ---- evaluating main.bicep with the app's principal known --------------------------------------------

_PARAMETERS = {"environmentName": "security", "location": "westeurope", "principalId": "developer"}
_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000bb"


def _app_principal(resource_id: str) -> str:
    return f"app:{resource_id}"


def evaluate(infra: Infra, **parameters: Any) -> Deployment:
    context = Context(_SUBSCRIPTION, "tenant", lambda rid, _kind: Principal(_app_principal(rid), "client", "tenant"))
    deployment = load(infra.root, {**_PARAMETERS, **parameters}, context)
    _ = deployment.resources  # evaluate everything now, so a failure is reported by the rule
    return deployment


def each_deployment(infra: Infra, *, networks: Iterable[bool] = (False,)) -> Iterator[tuple[str, Deployment | str]]:
    for kind in rules.IDENTITY_KINDS:
        for enabled in networks:
            label = f"{kind}, vnetEnabled={str(enabled).lower()}"
            try:
                yield label, evaluate(infra, appIdentityType=kind, vnetEnabled=enabled)
            except (ValueError, KeyError) as error:
                yield label, f"{label}: main.bicep does not evaluate: {error}"


# ---- the archive: create and read, never replace or remove -------------------------------------------

_BLOB_SERVICE = "Microsoft.Storage/storageAccounts/blobServices"
_BLOBS = f"{_BLOB_SERVICE}/containers/blobs"
WRITE = f"{_BLOBS}/write"
CREATE = f"{_BLOBS}/add/action"
READ = f"{_BLOBS}/read"
# What changes or removes a stored blob, or its container ("Azure permissions for Storage": the
# blobServices data actions and the container delete action; each alone is enough to tamper).
TAMPERING: tuple[tuple[str, bool], ...] = (
    (WRITE, True),
    (f"{_BLOBS}/delete", True),
    (f"{_BLOBS}/move/action", True),
    (f"{_BLOBS}/deleteBlobVersion/action", True),
    (f"{_BLOBS}/permanentDelete/action", True),
    (f"{_BLOBS}/tags/write", True),
    (f"{_BLOBS}/immutableStorage/runAsSuperUser/action", True),
    (f"{_BLOBS}/modifyPermissions/action", True),
    (f"{_BLOBS}/manageOwnership/action", True),
    (f"{_BLOBS}/runAsSuperUser/action", True),
    (f"{_BLOB_SERVICE}/containers/delete", False),
)


@dataclass(frozen=True)
class CreateOnly:
    name: str  # the declared resource
    scope: str  # its container's resource id in the deployment
    declared: frozenset[str]


def create_only_containers(deployment: Deployment, declaration: Declaration) -> list[CreateOnly]:
    """The blob containers the app declares no blobs/write on, located as the app locates them."""
    settings = app_resources(deployment).settings
    found = []
    for resource in declaration.of_service("blob"):
        declared = frozenset(a.action for a in resource.actions)
        if WRITE in declared:
            continue
        host = urlsplit(str(settings[resource.endpoint_setting])).hostname
        account = next(
            a
            for a in deployment.of_type(rules.STORAGE_ACCOUNT)
            if urlsplit(str(a.properties.get("primaryEndpoints", {}).get("blob", ""))).hostname == host
        )
        container = str(settings[resource.container_setting or ""])
        found.append(CreateOnly(resource.name, f"{account.id}/blobServices/default/containers/{container}", declared))
    return found


def archive_is_tamper_proof(infra: Infra, declaration: Declaration = DECLARATION) -> list[str]:
    problems: list[str] = []
    for label, deployment in each_deployment(infra):
        if isinstance(deployment, str):
            problems.append(deployment)
            continue
        app = _app_principal(app_resources(deployment).identity.resource_id)
        authorizer = Authorizer(access.assignments(deployment))
        for container in create_only_containers(deployment, declaration):
            where = f"{label}: {container.name!r} (declared without blobs/write)"
            for action, data in TAMPERING:
                decision = authorizer.decide(app, action, container.scope, data_action=data)
                if decision.allowed:
                    role = decision.assignment.role.name if decision.assignment else "?"
                    source = decision.assignment.source if decision.assignment else "?"
                    problems.append(
                        f"{where}: the app may {action} through {role!r} ({source}); grant create and read only"
                    )
            for action in sorted(container.declared):
                if not authorizer.decide(app, action, container.scope).allowed:
                    problems.append(f"{where}: the app may not {action}, which it declares")
    return problems


ROLE_DEFINITION = "Microsoft.Authorization/roleDefinitions"


def custom_rbac_roles(infra: Infra) -> list[str]:
    """Every custom Azure RBAC role: in access.bicep, a CustomRole with a roleName, data actions listed
    one by one, no control-plane action, assignable only in its resource group."""
    problems = [
        f"{name}: {r.symbol} defines a role outside {HOME}"
        for name, file in infra.files.items()
        for r in file.resources.values()
        if r.type == ROLE_DEFINITION and not r.existing and name != HOME
    ]
    for label, deployment in each_deployment(infra):
        if isinstance(deployment, str):
            problems.append(deployment)
            continue
        for role in deployment.of_type(ROLE_DEFINITION):
            where = f"{label}: {role.source}"
            properties = role.properties
            group = role.scope if "/resourceGroups/" in role.scope else "(no resource group)"
            if properties.get("type") != "CustomRole" or not properties.get("roleName"):
                problems.append(f"{where}: must be a CustomRole with a roleName")
            if list(properties.get("assignableScopes", [])) != [group]:
                problems.append(f"{where}: assignableScopes {properties.get('assignableScopes')} must be [{group}]")
            for permission in properties.get("permissions", []):
                if permission.get("actions"):
                    problems.append(f"{where}: has control-plane actions {permission['actions']}; data actions only")
                wild = [a for a in permission.get("dataActions", []) if "*" in a]
                problems += [f"{where}: {a} is a wildcard; list the data actions" for a in wild]
    return problems


def payload_fits_one_put_blob(infra: Infra) -> list[str]:
    param = infra.main.params["maxPayloadBytes"]
    decorators = param.decorators
    high = infra.main.literal(call_arguments(decorators["maxValue"])[0]) if "maxValue" in decorators else None
    if not isinstance(high, int) or high > MAX_SINGLE_PUT_BYTES:
        return [
            f"main.bicep: maxPayloadBytes allows up to {high}; more than {MAX_SINGLE_PUT_BYTES} is uploaded as "
            "Put Block + Put Block List (blobs/write), which the archive's create-only role refuses"
        ]
    return []


# ---- soft delete and backup (PSRule Azure.Storage.SoftDelete, ContainerSoftDelete, Cosmos.ContinuousBackup)

SOFT_DELETE_DAYS = 7  # the fewest days PSRule's soft-delete rules accept
BLOB_SERVICE = "Microsoft.Storage/storageAccounts/blobServices"


def data_account_soft_delete(infra: Infra) -> list[str]:
    problems = []
    for label, deployment in each_deployment(infra):
        if isinstance(deployment, str):
            problems.append(deployment)
            continue
        account = app_resources(deployment).data_account
        services = [s for s in deployment.of_type(BLOB_SERVICE) if s.id.startswith(account.id + "/")]
        if not services:
            problems.append(f"{label}: storage account {account.name} declares no blobServices, so no soft delete")
        for service in services:
            where = f"{label}: {service.source}"
            for policy in ("deleteRetentionPolicy", "containerDeleteRetentionPolicy"):
                value = service.properties.get(policy) or {}
                if value.get("enabled") is not True or int(value.get("days") or 0) < SOFT_DELETE_DAYS:
                    problems.append(
                        f"{where}: {policy} must be enabled for {SOFT_DELETE_DAYS} days or more, is {value}"
                    )
            if (service.properties.get("deleteRetentionPolicy") or {}).get("allowPermanentDelete"):
                problems.append(f"{where}: allowPermanentDelete lets a soft-deleted blob be purged at once")
    return problems


def cosmos_continuous_backup(infra: Infra) -> list[str]:
    problems = []
    for label, deployment in each_deployment(infra):
        if isinstance(deployment, str):
            problems.append(deployment)
            continue
        for account in deployment.of_type(rules.COSMOS_ACCOUNT):
            policy = account.properties.get("backupPolicy") or {}
            tier = (policy.get("continuousModeProperties") or {}).get("tier")
            if policy.get("type") != "Continuous" or tier not in ("Continuous7Days", "Continuous30Days"):
                problems.append(f"{label}: {account.source}: backupPolicy must be Continuous with a tier, is {policy}")
    return problems


# ---- network security groups (PSRule Azure.VNET.UseNSGs and Azure.NSG.*) ------------------------------

NSG = "Microsoft.Network/networkSecurityGroups"
NSG_APPLIES_TO_ENDPOINTS = ("Enabled", "NetworkSecurityGroupEnabled")


@dataclass(frozen=True)
class Flow:
    direction: str
    source: str  # an address prefix
    destination: str
    port: int
    protocol: str = "Tcp"


def nsg_verdict(nsg: DeployedResource, flow: Flow, vnet_space: list[str]) -> str:
    """Allow or Deny: the first matching rule by priority, then Azure's default rules."""
    ordered = sorted(
        (r["properties"] for r in nsg.properties.get("securityRules", [])), key=lambda p: int(p.get("priority", 0))
    )
    for rule in ordered:
        if rule.get("direction") != flow.direction or rule.get("protocol") not in ("*", flow.protocol):
            continue
        if not _prefix_matches(rule, "source", flow.source, vnet_space):
            continue
        if not _prefix_matches(rule, "destination", flow.destination, vnet_space):
            continue
        if _port_matches(rule, flow.port):
            return str(rule.get("access"))
    # AllowVnetInBound / AllowVnetOutBound, then DenyAllInBound; AllowInternetOutBound.
    within = _in_space(flow.source, vnet_space) and _in_space(flow.destination, vnet_space)
    return "Allow" if within or flow.direction == "Outbound" else "Deny"


def _prefix_matches(rule: Mapping[str, Any], side: str, address: str, vnet_space: list[str]) -> bool:
    prefixes = rule.get(f"{side}AddressPrefixes") or [rule.get(f"{side}AddressPrefix", "")]
    for prefix in prefixes:
        if prefix == "*" or (prefix == "VirtualNetwork" and _in_space(address, vnet_space)):
            return True
        if prefix not in ("VirtualNetwork", "Internet", "AzureLoadBalancer") and _within(address, prefix):
            return True
    return False


def _port_matches(rule: Mapping[str, Any], port: int) -> bool:
    for value in rule.get("destinationPortRanges") or [rule.get("destinationPortRange", "")]:
        low, _, high = str(value).partition("-")
        if value == "*" or (low.isdigit() and int(low) <= port <= int(high or low)):
            return True
    return False


def _within(address: str, prefix: str) -> bool:
    return ipaddress.ip_network(address).subnet_of(ipaddress.ip_network(prefix))  # type: ignore[arg-type]


def _in_space(address: str, space: list[str]) -> bool:
    return any(_within(address, prefix) for prefix in space)


def subnets_have_nsgs(infra: Infra) -> list[str]:
    problems = []
    for label, deployment in each_deployment(infra, networks=(True,)):
        if isinstance(deployment, str):
            problems.append(deployment)
            continue
        problems += [f"{label}: {p}" for p in _private_network_nsgs(deployment)]
    return problems


def _private_network_nsgs(deployment: Deployment) -> list[str]:
    (vnet,) = deployment.of_type(rules.VIRTUAL_NETWORK)
    nsgs = {n.id.lower(): n for n in deployment.of_type(NSG)}
    space = list(vnet.properties.get("addressSpace", {}).get("addressPrefixes", []))
    integration = str(app_resources(deployment).site.properties.get("virtualNetworkSubnetId") or "")
    problems: list[str] = []
    subnets = {f"{vnet.id}/subnets/{s['name']}": s.get("properties", {}) for s in vnet.properties.get("subnets", [])}
    endpoint_subnets = {
        str(e.properties.get("subnet", {}).get("id", "")) for e in deployment.of_type(rules.PRIVATE_ENDPOINT)
    }
    app_prefix = str(subnets.get(integration, {}).get("addressPrefix", ""))
    for subnet_id, subnet in subnets.items():
        name = subnet_id.rsplit("/", 1)[-1]
        nsg = nsgs.get(str((subnet.get("networkSecurityGroup") or {}).get("id", "")).lower())
        if nsg is None:
            problems.append(f"subnet {name} has no network security group (PSRule Azure.VNET.UseNSGs)")
            continue
        problems += [f"subnet {name}: {p}" for p in _psrule_nsg(nsg, str(subnet.get("addressPrefix")), space)]
        if subnet_id in endpoint_subnets:
            problems += [f"subnet {name}: {p}" for p in _endpoints_guarded(nsg, subnet, app_prefix, space)]
    return problems


def _psrule_nsg(nsg: DeployedResource, prefix: str, space: list[str]) -> list[str]:
    problems = []
    inbound = sorted(
        (r for r in nsg.properties.get("securityRules", []) if r["properties"].get("direction") == "Inbound"),
        key=lambda r: int(r["properties"].get("priority", 0)),
    )
    if any(
        r["properties"].get("access") == "Allow" and r["properties"].get("sourceAddressPrefix") == "*" for r in inbound
    ):
        problems.append(f"{nsg.name} allows inbound from any source (PSRule Azure.NSG.AnyInboundSource)")
    first = inbound[0]["properties"] if inbound else {}
    if first.get("access") == "Deny" and first.get("sourceAddressPrefix") == "*":
        problems.append(f"{nsg.name} denies all inbound first (PSRule Azure.NSG.DenyAllInbound)")
    some_vnet_address = str(next(ipaddress.ip_network(space[0]).subnets(new_prefix=32)))
    for port in (22, 3389):
        if nsg_verdict(nsg, Flow("Outbound", prefix, some_vnet_address, port), space) != "Deny":
            problems.append(f"{nsg.name} lets port {port} out to the VNet (PSRule Azure.NSG.LateralTraversal)")
    return problems


def _endpoints_guarded(
    nsg: DeployedResource, subnet: Mapping[str, Any], app_prefix: str, space: list[str]
) -> list[str]:
    policies = subnet.get("privateEndpointNetworkPolicies")
    if policies not in NSG_APPLIES_TO_ENDPOINTS:
        return [f"privateEndpointNetworkPolicies is {policies!r}: the NSG does not apply to the private endpoints"]
    prefix = str(subnet.get("addressPrefix"))
    problems = []
    if nsg_verdict(nsg, Flow("Inbound", app_prefix, prefix, 443), space) != "Allow":
        problems.append(f"{nsg.name} refuses HTTPS from the app's subnet {app_prefix}: the app loses its services")
    others = [str(s) for s in ipaddress.ip_network(space[0]).subnets(new_prefix=24)]
    stranger = next(s for s in others if not _within(s, app_prefix) and not _within(s, prefix))
    if nsg_verdict(nsg, Flow("Inbound", stranger, prefix, 443), space) != "Deny":
        problems.append(f"{nsg.name} lets {stranger}, which is not the app's subnet, reach the private endpoints")
    return problems


SECURITY_RULES: dict[str, Callable[[Infra], list[str]]] = {
    "archive_is_tamper_proof": archive_is_tamper_proof,
    "custom_rbac_roles": custom_rbac_roles,
    "payload_fits_one_put_blob": payload_fits_one_put_blob,
    "data_account_soft_delete": data_account_soft_delete,
    "cosmos_continuous_backup": cosmos_continuous_backup,
    "subnets_have_nsgs": subnets_have_nsgs,
}


@pytest.mark.parametrize("rule", SECURITY_RULES)
def test_infra_follows_security_rule(infra: Infra, rule: str) -> None:
    problems = SECURITY_RULES[rule](infra)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@dataclass(frozen=True)
class Mistake:
    file: str
    old: str = ""
    new: str = ""
    drop: str = ""
    rule: str = ""
    message: str = ""


ARCHIVE_ACTIONS = """          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
"""
APP_SUBNET_NSG = """          networkSecurityGroup: {
            id: appNsg.id
          }
"""

MISTAKES = {
    "the archive role may overwrite": Mistake(
        HOME,
        ARCHIVE_ACTIONS,
        ARCHIVE_ACTIONS + "          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write'\n",
        rule="archive_is_tamper_proof",
        message="the app may Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write through",
    ),
    "the archive role may delete through a wildcard": Mistake(
        HOME,
        ARCHIVE_ACTIONS,
        "          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*'\n",
        rule="archive_is_tamper_proof",
        message="blobs/delete through",
    ),
    "the wildcard is a custom role problem too": Mistake(
        HOME,
        ARCHIVE_ACTIONS,
        "          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*'\n",
        rule="custom_rbac_roles",
        message="is a wildcard",
    ),
    "the archive back on Blob Data Contributor": Mistake(
        HOME,
        "roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', appArchiveRole.name)",
        "roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
        "roleIds.storageBlobDataContributor)",
        rule="archive_is_tamper_proof",
        message="through 'Storage Blob Data Contributor'",
    ),
    "the digests role widened to the data account": Mistake(
        HOME,
        "roleIds.storageBlobDataContributor)\n  scope: digestsContainer\n  properties: {\n"
        "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
        "roleIds.storageBlobDataContributor)\n    principalId: appPrincipalId",
        "roleIds.storageBlobDataContributor)\n  scope: dataStorage\n  properties: {\n"
        "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
        "roleIds.storageBlobDataContributor)\n    principalId: appPrincipalId",
        rule="archive_is_tamper_proof",
        message="blobs/delete through 'Storage Blob Data Contributor' (modules/access.bicep:appDigestsContributor)",
    ),
    "the archive role dropped": Mistake(
        HOME,
        drop="appEventsArchiver",
        rule="archive_is_tamper_proof",
        message="the app may not Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
    ),
    "the archive role assignable in the whole subscription": Mistake(
        HOME,
        "var archiveRoleScope = resourceGroup().id",
        "var archiveRoleScope = subscription().id",
        rule="custom_rbac_roles",
        message="assignableScopes",
    ),
    "the archive role with a control-plane action": Mistake(
        HOME,
        "        actions: []\n        notActions: []\n        dataActions: [\n"
        "          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'",
        "        actions: [\n          'Microsoft.Storage/storageAccounts/blobServices/containers/delete'\n        ]\n"
        "        notActions: []\n        dataActions: [\n"
        "          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'",
        rule="custom_rbac_roles",
        message="has control-plane actions",
    ),
    "a payload larger than one Put Blob": Mistake(
        "main.bicep",
        "@maxValue(67108864)\n@description('Largest webhook body",
        "@maxValue(104857600)\n@description('Largest webhook body",
        rule="payload_fits_one_put_blob",
        message="allows up to 104857600",
    ),
    "blob soft delete off": Mistake(
        "modules/data-storage.bicep",
        "    deleteRetentionPolicy: {\n      enabled: true",
        "    deleteRetentionPolicy: {\n      enabled: false",
        rule="data_account_soft_delete",
        message="deleteRetentionPolicy must be enabled",
    ),
    "container soft delete for a day": Mistake(
        "modules/data-storage.bicep",
        "    containerDeleteRetentionPolicy: {\n      enabled: true\n      days: softDeleteDays",
        "    containerDeleteRetentionPolicy: {\n      enabled: true\n      days: 1",
        rule="data_account_soft_delete",
        message="containerDeleteRetentionPolicy must be enabled for 7 days",
    ),
    "soft-deleted blobs purgeable": Mistake(
        "modules/data-storage.bicep",
        "allowPermanentDelete: false",
        "allowPermanentDelete: true",
        rule="data_account_soft_delete",
        message="allowPermanentDelete",
    ),
    "Cosmos DB back on periodic backup": Mistake(
        "modules/cosmos.bicep",
        "      type: 'Continuous'\n      continuousModeProperties: {\n        tier: 'Continuous7Days'\n      }",
        "      type: 'Periodic'",
        rule="cosmos_continuous_backup",
        message="backupPolicy must be Continuous",
    ),
    "the app subnet without an NSG": Mistake(
        "modules/network.bicep",
        APP_SUBNET_NSG,
        "",
        rule="subnets_have_nsgs",
        message="subnet app has no network security group",
    ),
    "NSGs not applied to private endpoints": Mistake(
        "modules/network.bicep",
        "privateEndpointNetworkPolicies: 'NetworkSecurityGroupEnabled'",
        "privateEndpointNetworkPolicies: 'Disabled'",
        rule="subnets_have_nsgs",
        message="the NSG does not apply to the private endpoints",
    ),
    "HTTPS to the endpoints from anywhere": Mistake(
        "modules/network.bicep",
        "sourceAddressPrefix: appSubnetPrefix",
        "sourceAddressPrefix: '*'",
        rule="subnets_have_nsgs",
        message="allows inbound from any source",
    ),
    "the deny placed before the app's allow": Mistake(
        "modules/network.bicep",
        "          priority: 4000\n          direction: 'Inbound'",
        "          priority: 50\n          direction: 'Inbound'",
        rule="subnets_have_nsgs",
        message="refuses HTTPS from the app's subnet",
    ),
    "the rest of the VNet let in": Mistake(
        "modules/network.bicep",
        "          access: 'Deny'\n          protocol: '*'\n          sourceAddressPrefix: 'VirtualNetwork'",
        "          access: 'Allow'\n          protocol: 'Udp'\n          sourceAddressPrefix: 'VirtualNetwork'",
        rule="subnets_have_nsgs",
        message="which is not the app's subnet, reach the private endpoints",
    ),
    "SSH and RDP open towards the VNet": Mistake(
        "modules/network.bicep",
        "    access: 'Deny'\n    protocol: 'Tcp'\n    sourceAddressPrefix: '*'",
        "    access: 'Allow'\n    protocol: 'Tcp'\n    sourceAddressPrefix: '*'",
        rule="subnets_have_nsgs",
        message="Azure.NSG.LateralTraversal",
    ),
}


@pytest.mark.parametrize("case", MISTAKES)
def test_security_rule_catches_its_mistake(tmp_path: Path, case: str) -> None:
    mistake = MISTAKES[case]
    root = copy_infra(tmp_path / "infra")
    if mistake.drop:
        drop_resource(root / mistake.file, mistake.drop)
    else:
        replace_text(root / mistake.file, mistake.old, mistake.new)
    problems = SECURITY_RULES[mistake.rule](Infra(root))
    assert any(mistake.message in p for p in problems), f"{mistake.rule} did not object; it said: {problems}"


def test_every_security_rule_has_a_mistake() -> None:
    assert set(SECURITY_RULES) == {m.rule for m in MISTAKES.values()}


# ---- the deploy workflow ---------------------------------------------------------------------------------

# Triggers whose runs may use a workflow file from a branch other than the default one.
PULL_REQUEST_TRIGGERS = frozenset({"pull_request", "pull_request_target"})
PROVISIONING = ("azd provision", "azd up")


def token_problems(workflow: Mapping[Any, Any], name: str) -> list[str]:
    triggers = _triggers(workflow)
    problems = []
    for job_name, job in (workflow.get("jobs") or {}).items():
        where = f"{name}: job {job_name}"
        permissions = job.get("permissions", workflow.get("permissions"))
        may_request_token = permissions == "write-all" or (
            isinstance(permissions, Mapping) and permissions.get("id-token") == "write"
        )
        if may_request_token:
            problems += [
                f"{where} may request the OIDC token and runs on {t}: that run uses its branch's workflow file"
                for t in sorted(triggers & PULL_REQUEST_TRIGGERS)
            ]
            if not job.get("environment"):
                problems.append(f"{where} may request the OIDC token outside a GitHub environment")
        if _provisions(job) and _developer_access(workflow, job) != "false":
            problems.append(f'{where} provisions with developer access on: set DEVELOPER_ACCESS: "false"')
    return problems


def _triggers(workflow: Mapping[Any, Any]) -> set[str]:
    # YAML 1.1 readers turn the key `on` into True.
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on}
    return {str(t) for t in on or ()}


def _provisions(job: Mapping[str, Any]) -> bool:
    return any(any(c in " ".join(str(s.get("run", "")).split()) for c in PROVISIONING) for s in job.get("steps", []))


def _developer_access(workflow: Mapping[Any, Any], job: Mapping[str, Any]) -> str | None:
    """DEVELOPER_ACCESS as the provisioning step sees it (step env over job env over workflow env)."""
    value = (workflow.get("env") or {}).get("DEVELOPER_ACCESS")
    value = (job.get("env") or {}).get("DEVELOPER_ACCESS", value)
    for step in job.get("steps", []):
        if any(c in " ".join(str(step.get("run", "")).split()) for c in PROVISIONING):
            value = (step.get("env") or {}).get("DEVELOPER_ACCESS", value)
    return None if value is None else str(value).lower()


def load_workflow(text: str) -> Mapping[Any, Any]:
    document: Mapping[Any, Any] = YAML(typ="safe", pure=True).load(text)
    return document


def test_no_job_that_may_request_the_deploy_token_runs_for_a_pull_request_or_outside_an_environment() -> None:
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert files, "no workflow found"
    problems = [p for path in files for p in token_problems(load_workflow(path.read_text()), path.name)]
    assert problems == []


AZURE_DEV = (WORKFLOWS / "azure-dev.yml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("on:\n  push:\n", "on:\n  pull_request:\n  push:\n", "runs on pull_request"),
        ("on:\n  push:\n", "on:\n  pull_request_target:\n  push:\n", "runs on pull_request_target"),
        ("    environment: production\n", "", "outside a GitHub environment"),
        ('      DEVELOPER_ACCESS: "false"\n', "", "provisions with developer access on"),
        (
            '      DEVELOPER_ACCESS: "false"\n',
            '      DEVELOPER_ACCESS: "true"\n',
            "provisions with developer access on",
        ),
        (
            "permissions:\n  id-token: write\n  contents: read\n",
            "permissions: write-all\n",
            "",  # still fine: write-all in an environment, on push only
        ),
    ],
)
def test_the_workflow_rule_catches_each_mistake(old: str, new: str, message: str) -> None:
    assert AZURE_DEV.count(old) == 1, f"the workflow no longer contains {old!r}"
    problems = token_problems(load_workflow(AZURE_DEV.replace(old, new)), "azure-dev.yml")
    if message:
        assert any(message in p for p in problems), problems
    else:
        assert problems == []


def test_a_job_level_token_permission_counts_too() -> None:
    workflow = {
        "on": {"pull_request": None},
        "permissions": {"contents": "read"},
        "jobs": {"plan": {"permissions": {"id-token": "write"}, "steps": []}},
    }
    assert len(token_problems(workflow, "w.yml")) == 2


def test_the_archive_is_declared_create_only() -> None:
    """The design (webhooks/store.py): a payload is archived once and never replaced; the declaration
    says so, `python -m devstack check` holds the code to it, and archive_is_tamper_proof holds infra/."""
    (archive,) = [r for r in DECLARATION.of_service("blob") if r.container_setting == "EVENTS_CONTAINER"]
    assert {a.action for a in archive.actions} == {CREATE, READ}
