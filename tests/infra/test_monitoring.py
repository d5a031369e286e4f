"""Access is monitored: infra/ logs every data-plane call, keeps each audit table as its parameters say,
offers role-change history on request, saves the access queries and alerts when a service refuses the
app's own identity, and every query it deploys is valid KQL over the tables' documented columns.

The rules read main.bicep as a deployment would evaluate it (infra_model.deployment), in every identity
kind and network mode, so they follow whatever infra/ names its resources. The queries are the
deployed text itself, composed by Bicep from infra/queries/*.kql, checked with Microsoft's Kusto
language service (devstack.kql) against the columns Microsoft's table reference documents
(devstack.monitor_tables). Each rule is shown catching its mistake on a broken copy at the end.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from devstack import kql
from infra_model import access
from infra_model.deployment import IDENTITY, Context, DeployedResource, Deployment, Principal, load
from infra_model.resources import app_resources
from infra_model.syntax import Infra, call_arguments, text

from . import rules
from .conftest import INFRA, Mutate
from .test_bicep import ALERTS, expect_no_problems

DIAGNOSTIC_SETTING = "Microsoft.Insights/diagnosticSettings"
WORKSPACE = "Microsoft.OperationalInsights/workspaces"
TABLE = "Microsoft.OperationalInsights/workspaces/tables"
QUERY_PACK_QUERY = "Microsoft.OperationalInsights/queryPacks/queries"
ALERT_RULE = "Microsoft.Insights/scheduledQueryRules"
ACTION_GROUP = "Microsoft.Insights/actionGroups"
# Built-in role "Log Analytics Reader" (learn.microsoft.com/azure/role-based-access-control/built-in-roles/monitor).
LOG_ANALYTICS_READER = "73c42c96-874c-492b-b04d-ab87d138a893"


@dataclass(frozen=True)
class Audit:
    """What one data resource must send: the diagnostic categories, and whether only a Dedicated
    destination puts them in their resource-specific table (Key Vault's and Cosmos DB's do)."""

    what: str
    categories: frozenset[str]
    tables: frozenset[str]
    dedicated: bool


# Category -> table: Microsoft's "Supported logs" pages for each resource type (Key Vault: AuditEvent ->
# AZKVAuditLogs; storage blob services: StorageRead/Write/Delete -> StorageBlobLogs; Cosmos DB:
# DataPlaneRequests -> CDBDataPlaneRequests, ControlPlaneRequests -> CDBControlPlaneRequests, with
# resource-specific mode; web sites: FunctionAppLogs -> FunctionAppLogs).
VAULT = Audit("Key Vault", frozenset({"AuditEvent"}), frozenset({"AZKVAuditLogs"}), dedicated=True)
BLOBS = Audit(
    "data account's blob service",
    frozenset({"StorageRead", "StorageWrite", "StorageDelete"}),
    frozenset({"StorageBlobLogs"}),
    dedicated=False,
)
COSMOS = Audit(
    "Cosmos DB account",
    frozenset({"DataPlaneRequests", "ControlPlaneRequests"}),
    frozenset({"CDBDataPlaneRequests", "CDBControlPlaneRequests"}),
    dedicated=True,
)
FUNCTION_APP = Audit("function app", frozenset({"FunctionAppLogs"}), frozenset({"FunctionAppLogs"}), dedicated=False)
# Copies the text of every query into the logs, values included: an access audit needs who, not what.
FORBIDDEN_CATEGORIES = frozenset({"QueryRuntimeStatistics"})
ACTIVITY_TABLE = "AzureActivity"


def _principal(resource_id: str, kind: str) -> Principal:
    """Each identity its own principal (rules.evaluate gives every user-assigned identity the same one)."""
    return Principal(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}:{resource_id.lower()}")), "client", "tenant")


def _evaluate(infra: Infra, **parameters: Any) -> Deployment:
    context = Context("00000000-0000-0000-0000-0000000000aa", "tenant", _principal)
    return load(
        infra.root,
        {"environmentName": "rules", "location": "westeurope", "principalId": "developer", **parameters},
        context,
    )


def _kinds(infra: Infra) -> Iterator[tuple[str, Deployment | str]]:
    for kind in rules.IDENTITY_KINDS:
        try:
            deployment = _evaluate(infra, appIdentityType=kind)
            _ = deployment.resources
        except (ValueError, KeyError) as error:
            yield kind, f"{kind}: main.bicep does not evaluate: {error}"
            continue
        yield kind, deployment


def _workspace(deployment: Deployment) -> DeployedResource:
    (workspace,) = deployment.of_type(WORKSPACE)
    return workspace


def _audited(deployment: Deployment) -> dict[str, Audit]:
    """Resource id -> what its diagnostic setting must send."""
    resources = app_resources(deployment)
    return {
        resources.vault.id: VAULT,
        f"{resources.data_account.id}/blobServices/default": BLOBS,
        resources.cosmos.id: COSMOS,
        resources.site.id: FUNCTION_APP,
    }


def _enabled(setting: DeployedResource, kind: str = "logs") -> set[str]:
    entries = setting.properties.get(kind, [])
    return {str(e.get("category")) for e in entries if e.get("enabled", False)}


def audit_settings(infra: Infra) -> list[str]:
    """Key Vault, the data account's blob service, Cosmos DB and the function app each send their audit
    categories to the template's workspace, into their resource-specific tables; no metrics, and not
    Cosmos DB's query-text category."""
    lines: dict[str, None] = {}
    for mode, deployment in rules.deployments(infra):
        if isinstance(deployment, str):
            lines[deployment] = None
            continue
        workspace = _workspace(deployment).id
        settings = deployment.of_type(DIAGNOSTIC_SETTING)
        for resource_id, audit in _audited(deployment).items():
            mine = [s for s in settings if s.scope.lower() == resource_id.lower()]
            where = f"{mode}: the {audit.what} ({resource_id.rsplit('/', 1)[-1]})"
            to_workspace = [s for s in mine if str(s.properties.get("workspaceId", "")).lower() == workspace.lower()]
            if not to_workspace:
                lines[
                    f"{where} has no diagnostic setting to the workspace; add one in infra/modules/audit-logs.bicep"
                ] = None
                continue
            sent = set().union(*(_enabled(s) for s in to_workspace))
            for category in sorted(audit.categories - sent):
                lines[f"{where} does not send {category} to the workspace"] = None
            for category in sorted(sent & FORBIDDEN_CATEGORIES):
                lines[f"{where} sends {category}, which logs every query's text; leave it out"] = None
            for setting in to_workspace:
                if audit.dedicated and setting.properties.get("logAnalyticsDestinationType") != "Dedicated":
                    lines[
                        f"{where}: {setting.source} needs logAnalyticsDestinationType 'Dedicated', or its logs "
                        f"go to AzureDiagnostics instead of {', '.join(sorted(audit.tables))}"
                    ] = None
                if _enabled(setting, "metrics"):
                    lines[f"{where}: {setting.source} sends metrics, billed as logs; Azure keeps them anyway"] = None
    return list(lines)


def full_text_query_off(infra: Infra) -> list[str]:
    """No Cosmos DB account logs its queries' full text (diagnosticLogSettings.enableFullTextQuery)."""
    deployment = rules.evaluate(infra)
    problems = []
    for account in deployment.of_type(rules.COSMOS_ACCOUNT):
        value = str(account.properties.get("diagnosticLogSettings", {}).get("enableFullTextQuery", "None"))
        if value.lower() == "true":
            problems.append(
                f"{account.source}: enableFullTextQuery is {value}; queries' text (and values) would be logged"
            )
    return problems


# Any values will do: what is given must reach each table.
TABLE_PARAMETERS: Mapping[str, Any] = {
    "keyVaultLogsPlan": "Basic",
    "keyVaultLogsRetentionDays": 45,
    "blobLogsPlan": "Analytics",
    "blobLogsRetentionDays": 61,
    "cosmosLogsPlan": "Basic",
    "cosmosLogsRetentionDays": 73,
    "functionLogsPlan": "Analytics",
    "functionLogsRetentionDays": 37,
    "activityLogRetentionDays": 120,
}
TABLE_SETTINGS = {
    "AZKVAuditLogs": ("keyVaultLogsPlan", "keyVaultLogsRetentionDays"),
    "StorageBlobLogs": ("blobLogsPlan", "blobLogsRetentionDays"),
    "CDBDataPlaneRequests": ("cosmosLogsPlan", "cosmosLogsRetentionDays"),
    "CDBControlPlaneRequests": ("cosmosLogsPlan", "cosmosLogsRetentionDays"),
    "FunctionAppLogs": ("functionLogsPlan", "functionLogsRetentionDays"),
    ACTIVITY_TABLE: (None, "activityLogRetentionDays"),
}


def audit_tables(infra: Infra) -> list[str]:
    """Every table the audit writes to is declared in the workspace with the plan and retention its
    main.bicep parameters give: an Analytics table keeps its records queryable that long, a Basic one
    (whose interactive period Azure fixes) keeps them that long in all."""
    try:
        deployment = rules.evaluate(infra, **TABLE_PARAMETERS)
        workspace = _workspace(deployment)
    except (ValueError, KeyError) as error:
        return [f"main.bicep does not evaluate with the table parameters: {error}"]
    tables = {t.short_name: t for t in deployment.of_type(TABLE) if t.id.lower().startswith(workspace.id.lower() + "/")}
    problems = []
    for name, (plan_param, days_param) in TABLE_SETTINGS.items():
        table = tables.get(name)
        if table is None:
            problems.append(f"the workspace declares no table {name}; add it with log-table.bicep in monitoring.bicep")
            continue
        plan = TABLE_PARAMETERS[plan_param] if plan_param else "Analytics"
        days = TABLE_PARAMETERS[days_param]
        wanted = {
            "plan": plan,
            "totalRetentionInDays": days,
            **({"retentionInDays": days} if plan == "Analytics" else {}),
        }
        actual = {key: table.properties.get(key) for key in ("plan", "totalRetentionInDays", "retentionInDays")}
        actual = {key: value for key, value in actual.items() if value is not None}
        if actual != wanted:
            given = f"{plan_param}={plan!r}, " if plan_param else ""
            problems.append(
                f"table {name} ({table.source}) is {actual} with {given}{days_param}={days}; must be {wanted}"
            )
    return problems


def role_change_history(infra: Infra) -> list[str]:
    """Off by default, no subscription-level setting is made; with roleChangeHistory on, exactly one,
    sending the Activity log's Administrative category (role assignment writes and deletes) and nothing
    else to the template's workspace."""
    problems = []
    for enabled in (False, True):
        try:
            deployment = rules.evaluate(infra, **({"roleChangeHistory": True} if enabled else {}))
        except (ValueError, KeyError) as error:
            return [f"main.bicep does not evaluate with roleChangeHistory={enabled}: {error}"]
        subscription = f"/subscriptions/{deployment.context.subscription_id}"
        found = [s for s in deployment.of_type(DIAGNOSTIC_SETTING) if s.scope.lower() == subscription.lower()]
        where = "by default" if not enabled else "with roleChangeHistory"
        if not enabled:
            problems += [f"{where}, {s.source} is a subscription diagnostic setting; make it opt-in" for s in found]
            continue
        if len(found) != 1:
            problems.append(f"{where}, {len(found)} subscription diagnostic settings are deployed, not one")
            continue
        (setting,) = found
        if str(setting.properties.get("workspaceId", "")).lower() != _workspace(deployment).id.lower():
            problems.append(f"{where}, {setting.source} does not send to the template's workspace")
        if _enabled(setting) != {"Administrative"}:
            problems.append(
                f"{where}, {setting.source} sends {sorted(_enabled(setting))}, not exactly ['Administrative']"
            )
    return problems


def alert_grants(infra: Infra) -> list[str]:
    """The alert's identity holds one role: Log Analytics Reader on the workspace, in access.bicep."""
    expected = {(LOG_ANALYTICS_READER, WORKSPACE, "logAnalyticsName")}
    return rules.grant_set(infra, ALERTS, expected)


PRINCIPAL_LET = re.compile(r"^let appPrincipalId = '([^']*)';")


def access_alert(infra: Infra) -> list[str]:
    """In each identity kind one log alert, over the workspace, fires when the app's own identity is
    refused: its query names the principal the site runs as; it runs as an identity of its own, not
    the app's, whose only role is to read the workspace; e-mail only when alertEmail is given."""
    problems: dict[str, None] = {}
    for kind, deployment in _kinds(infra):
        if isinstance(deployment, str):
            problems[deployment] = None
            continue
        for problem in _alert_in(deployment):
            problems[f"{kind}: {problem}"] = None
    emailed = _evaluate(infra, alertEmail="ops@example.com")
    groups = emailed.of_type(ACTION_GROUP)
    receivers = [r.get("emailAddress") for g in groups for r in g.properties.get("emailReceivers", [])]
    used = [g for r in emailed.of_type(ALERT_RULE) for g in r.properties.get("actions", {}).get("actionGroups", [])]
    if receivers != ["ops@example.com"] or [g.id for g in groups] != used:
        problems["with alertEmail, the alert does not notify exactly that address through one action group"] = None
    return list(problems)


def _alert_in(deployment: Deployment) -> list[str]:
    alerts = deployment.of_type(ALERT_RULE)
    if len(alerts) != 1:
        return [f"{len(alerts)} scheduled query rules are deployed, not one"]
    (alert,) = alerts
    problems = []
    properties = alert.properties
    workspace = _workspace(deployment).id
    if [str(s).lower() for s in properties.get("scopes", [])] != [workspace.lower()] or not properties.get("enabled"):
        problems.append(f"{alert.source} is not an enabled rule over the workspace")
    (condition,) = properties["criteria"]["allOf"]
    if (condition.get("timeAggregation"), condition.get("operator"), condition.get("threshold")) != (
        "Count",
        "GreaterThan",
        0,
    ):
        problems.append(f"{alert.source} must fire on any row (Count GreaterThan 0)")
    app = app_resources(deployment).identity
    app_principal = _principal_of(deployment, app.resource_id, app.kind)
    named = PRINCIPAL_LET.match(str(condition.get("query", "")))
    if named is None or named.group(1) != app_principal:
        problems.append(
            f"{alert.source}: the query's appPrincipalId is not the principal the site runs as ({app_principal})"
        )
    identities = list(alert.identity.get("userAssignedIdentities", {}))
    if alert.identity.get("type") != "UserAssigned" or len(identities) != 1 or identities[0] == app.resource_id:
        problems.append(f"{alert.source} must run as one user-assigned identity of its own, not the app's")
        return problems
    principal = _principal_of(deployment, str(identities[0]), "user")
    held = [(a.role.name, a.scope) for a in access.assignments(deployment) if a.principal_id == principal]
    if held != [("Log Analytics Reader", workspace)]:
        problems.append(f"{alert.source}'s identity holds {held}, not exactly Log Analytics Reader on the workspace")
    return problems


def _principal_of(deployment: Deployment, resource_id: str, kind: str) -> str:
    return _principal(resource_id, kind).principal_id


def deployed_queries(infra: Infra) -> dict[str, str]:
    """Every query the deployment saves or alerts with, as deployed (Bicep's composition evaluated),
    in both identity kinds: where it is -> its text."""
    queries: dict[str, str] = {}
    for kind, deployment in rules.deployments(infra, networks=False):
        if isinstance(deployment, str):
            raise AssertionError(deployment)
        for query in deployment.of_type(QUERY_PACK_QUERY):
            queries[f"{query.source} ({query.properties.get('displayName')})"] = str(query.properties["body"])
        for alert in deployment.of_type(ALERT_RULE):
            for index, condition in enumerate(alert.properties["criteria"]["allOf"]):
                queries[f"{alert.source} ({kind}) condition {index}"] = str(condition["query"])
    return queries


def queries_are_valid_kql(infra: Infra) -> list[str]:
    """Each deployed query parses and names only tables and columns Microsoft documents, and reads at
    least one of them (Kusto's diagnostics, from its own language service)."""
    try:
        queries = deployed_queries(infra)
    except (AssertionError, ValueError, KeyError) as error:
        return [f"main.bicep does not evaluate: {error}"]
    problems = []
    for name, found in kql.check(queries).items():
        problems += [f"{name}: {diagnostic}" for diagnostic in found.errors]
        if not found.errors and not found.columns:
            problems.append(f"{name}: reads no column of any audit table")
    return problems


def query_files_are_deployed(infra: Infra) -> list[str]:
    """Every .kql file under infra/queries/ is loaded by the Bicep (loadTextContent), so no query is kept
    beside the template that Azure never gets, and each one loaded exists."""
    loaded = set()
    problems = []
    for name, file in infra.files.items():
        for call in file.calls("loadTextContent"):
            relative = file.literal(call_arguments(call)[0])
            target = (file.path.parent / str(relative)).resolve()
            if not target.is_file():
                problems.append(f"{name}: loadTextContent({text(call_arguments(call)[0])}) names no file")
            loaded.add(target)
    on_disk = {p.resolve() for p in (infra.root / "queries").glob("*.kql")}
    problems += [
        f"queries/{p.name} is loaded by no Bicep file; deploy it or delete it" for p in sorted(on_disk - loaded)
    ]
    return problems


RULES = {
    "audit_settings": audit_settings,
    "full_text_query_off": full_text_query_off,
    "audit_tables": audit_tables,
    "role_change_history": role_change_history,
    "alert_grants": alert_grants,
    "access_alert": access_alert,
    "queries_are_valid_kql": queries_are_valid_kql,
    "query_files_are_deployed": query_files_are_deployed,
}


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_infra_follows_monitoring_rule(infra: Infra, rule: str) -> None:
    expect_no_problems(RULES[rule](infra))


def test_the_alert_identity_is_not_the_apps_in_either_kind() -> None:
    """The alert's identity is a resource of its own (monitoring.bicep), whichever identity the app uses."""
    for kind, deployment in _kinds(Infra(INFRA)):
        assert not isinstance(deployment, str), deployment
        identities = {i.id for i in deployment.of_type(IDENTITY)}
        app = app_resources(deployment).identity.resource_id
        (alert,) = deployment.of_type(ALERT_RULE)
        (used,) = alert.identity["userAssignedIdentities"]
        assert used in identities, kind
        assert used != app, kind


# ---- each rule catches its mistake --------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    file: str
    old: str = ""
    new: str = ""
    expect: int = 1
    drop: str = ""
    rule: str = ""
    message: str = ""


CASES = {
    "Key Vault not audited": Case(
        "modules/audit-logs.bicep", drop="keyVaultAudit", rule="audit_settings", message="the Key Vault (kv-"
    ),
    "blob writes not logged": Case(
        "modules/audit-logs.bicep",
        "      {\n        category: 'StorageWrite'\n        enabled: true\n      }\n",
        "",
        rule="audit_settings",
        message="does not send StorageWrite",
    ),
    "Cosmos DB logs to AzureDiagnostics": Case(
        "modules/audit-logs.bicep",
        "  scope: cosmosAccount\n  properties: {\n    workspaceId: workspaceId\n"
        "    logAnalyticsDestinationType: 'Dedicated'\n",
        "  scope: cosmosAccount\n  properties: {\n    workspaceId: workspaceId\n",
        rule="audit_settings",
        message="needs logAnalyticsDestinationType 'Dedicated'",
    ),
    "Cosmos DB query text logged": Case(
        "modules/audit-logs.bicep",
        "        category: 'ControlPlaneRequests'\n        enabled: true\n      }\n",
        "        category: 'ControlPlaneRequests'\n        enabled: true\n      }\n"
        "      {\n        category: 'QueryRuntimeStatistics'\n        enabled: true\n      }\n",
        rule="audit_settings",
        message="sends QueryRuntimeStatistics",
    ),
    "full-text query logging on": Case(
        "modules/cosmos.bicep",
        "    disableLocalAuth: true\n",
        "    disableLocalAuth: true\n    diagnosticLogSettings: {\n      enableFullTextQuery: 'True'\n    }\n",
        rule="full_text_query_off",
        message="enableFullTextQuery is True",
    ),
    "table retention not from its parameter": Case(
        "modules/monitoring.bicep",
        "retentionDays: blobLogsRetentionDays",
        "retentionDays: 30",
        rule="audit_tables",
        message="table StorageBlobLogs",
    ),
    "Activity log sent by default": Case(
        "main.bicep",
        "module activityLog 'modules/activity-log.bicep' = if (roleChangeHistory) {",
        "module activityLog 'modules/activity-log.bicep' = {",
        rule="role_change_history",
        message="make it opt-in",
    ),
    "Activity log sends more than role changes": Case(
        "modules/activity-log.bicep",
        "        category: 'Administrative'\n        enabled: true\n      }\n",
        "        category: 'Administrative'\n        enabled: true\n      }\n      {\n        category: 'Security'\n"
        "        enabled: true\n      }\n",
        rule="role_change_history",
        message="not exactly ['Administrative']",
    ),
    "alert identity reads the whole resource group": Case(
        "modules/access.bicep",
        "roleIds.logAnalyticsReader)\n  scope: workspace\n",
        "roleIds.logAnalyticsReader)\n  scope: resourceGroup()\n",
        rule="alert_grants",
        message="missing ('73c42c96",
    ),
    "alert watches the developer instead of the app": Case(
        "main.bicep",
        "appPrincipalId: useSystemIdentity ? functionApp.outputs.principalId : (identity.outputs.principalId)\n"
        "    alertEmail",
        "appPrincipalId: principalId\n    alertEmail",
        rule="access_alert",
        message="the query's appPrincipalId is not the principal the site runs as",
    ),
    "alert runs as the app's identity": Case(
        "main.bicep",
        "alertIdentityId: monitoring.outputs.alertIdentityId",
        "alertIdentityId: !useSystemIdentity ? identity.outputs.id : (monitoring.outputs.alertIdentityId)",
        rule="access_alert",
        message="must run as one user-assigned identity of its own",
    ),
    "a query names a column the table lacks": Case(
        "queries/refused-requests.kql",
        "Identity = RequesterObjectId,",
        "Identity = RequesterObjectID,",
        rule="queries_are_valid_kql",
        message="KS142",
    ),
    "a query that does not parse": Case(
        "queries/secret-reads.kql",
        '| where OperationName == "SecretGet"',
        '| wher OperationName == "SecretGet"',
        rule="queries_are_valid_kql",
        message="Error KS",
    ),
    "a query kept beside the Bicep but never deployed": Case(
        "modules/monitoring.bicep",
        "    body: loadTextContent('../queries/role-changes.kql')\n",
        "    body: 'AzureActivity | take 1'\n",
        rule="query_files_are_deployed",
        message="queries/role-changes.kql is loaded by no Bicep file",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_monitoring_rule_catches_mistake(mutant: Mutate, case: str) -> None:
    spec = CASES[case]
    broken = mutant(spec.file, spec.old, spec.new, expect=spec.expect, drop=spec.drop)
    problems = RULES[spec.rule](broken)
    assert any(spec.message in p for p in problems), problems


def test_every_monitoring_rule_has_a_mistake_it_catches() -> None:
    assert {case.rule for case in CASES.values()} == set(RULES)
