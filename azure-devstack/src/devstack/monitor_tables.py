"""Azure Monitor's tables for data-plane access logs, with the columns Microsoft documents for them.

Vendored from Microsoft's Azure Monitor table reference (https://learn.microsoft.com/azure/azure-monitor/
reference/tables/<table>, its column tables, read December 2026), each table naming its own page. Two
tools read them, so both speak the same columns: the KQL checker (devstack/kql.py) analyses queries
against them, and the local stack's audit records (devstack/audit.py) use only these column names.

Types are Kusto's scalar types as the reference gives them (string, int, long, real, bool, datetime,
dynamic, guid). A column Azure adds later is missing here until it is added by hand: a query naming it
then fails the checker, which says which table and column, rather than passing unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

_REFERENCE = "https://learn.microsoft.com/azure/azure-monitor/reference/tables/"

# Every table of the reference lists these (the workspace and billing columns).
_STANDARD = {
    "_BilledSize": "real",
    "_IsBillable": "string",
    "_ResourceId": "string",
    "_SubscriptionId": "string",
    "SourceSystem": "string",
    "TenantId": "string",
    "TimeGenerated": "datetime",
    "Type": "string",
}


@dataclass(frozen=True)
class Table:
    name: str
    columns: Mapping[str, str]  # column -> Kusto type

    @property
    def source(self) -> str:
        return _REFERENCE + self.name.lower()

    def schema(self) -> str:
        """The table's columns in Kusto's schema notation: `(Name:type, ...)`."""
        return "(" + ", ".join(f"['{name}']:{kind}" for name, kind in self.columns.items()) + ")"


def _table(name: str, columns: Mapping[str, str]) -> Table:
    return Table(name, MappingProxyType({**_STANDARD, **columns}))


# Key Vault's AuditEvent category, resource-specific (reference/tables/azkvauditlogs).
AZKV_AUDIT_LOGS = _table(
    "AZKVAuditLogs",
    {
        "AddressAuthorizationType": "string",
        "Algorithm": "string",
        "AppliedAssignmentId": "string",
        "CallerIpAddress": "string",
        "CertificateIssuerProperties": "dynamic",
        "CertificatePolicyProperties": "dynamic",
        "CertificateProperties": "dynamic",
        "CertificateRequestProperties": "dynamic",
        "ClientInfo": "string",
        "CorrelationId": "string",
        "DurationMs": "int",
        "EnabledForDeployment": "bool",
        "EnabledForDiskEncryption": "bool",
        "EnabledForTemplateDeployment": "bool",
        "EnablePurgeProtection": "bool",
        "EnableRbacAuthorization": "bool",
        "EnableSoftDelete": "bool",
        "HsmPoolResourceId": "string",
        "HttpStatusCode": "int",
        "Id": "string",
        "Identity": "dynamic",
        "IsAccessPolicyMatch": "bool",
        "IsAddressAuthorized": "bool",
        "IsRbacAuthorized": "bool",
        "KeyProperties": "dynamic",
        "NetworkAcls": "dynamic",
        "Nsp": "dynamic",
        "OperationName": "string",
        "OperationVersion": "string",
        "Properties": "dynamic",
        "RequestUri": "string",
        "ResultDescription": "string",
        "ResultSignature": "string",
        "ResultType": "string",
        "SecretProperties": "dynamic",
        "Sku": "dynamic",
        "SoftDeleteRetentionInDays": "int",
        "StorageAccountProperties": "dynamic",
        "StorageSasDefinitionProperties": "dynamic",
        "SubnetId": "string",
        "Tlsversion": "string",
        "TrustedService": "string",
        "VaultProperties": "dynamic",
    },
)

# The blob service's StorageRead, StorageWrite and StorageDelete categories (reference/tables/storagebloblogs).
STORAGE_BLOB_LOGS = _table(
    "StorageBlobLogs",
    {
        "AccessTier": "string",
        "AccountName": "string",
        "AuthenticationHash": "string",
        "AuthenticationType": "string",
        "AuthorizationDetails": "dynamic",
        "CallerIpAddress": "string",
        "Category": "string",
        "ClientRequestId": "string",
        "ConditionsUsed": "string",
        "ContentLengthHeader": "long",
        "CorrelationId": "string",
        "DestinationUri": "string",
        "DurationMs": "real",
        "Etag": "string",
        "LastModifiedTime": "datetime",
        "Location": "string",
        "MetricResponseType": "string",
        "ObjectKey": "string",
        "OperationCount": "int",
        "OperationName": "string",
        "OperationVersion": "string",
        "Protocol": "string",
        "ReferrerHeader": "string",
        "RehydratePriority": "string",
        "RequestBodySize": "long",
        "RequesterAppId": "string",
        "RequesterAudience": "string",
        "RequesterObjectId": "string",
        "RequesterTenantId": "string",
        "RequesterTokenIssuer": "string",
        "RequesterUpn": "string",
        "RequestHeaderSize": "long",
        "RequestMd5": "string",
        "ResponseBodySize": "long",
        "ResponseHeaderSize": "long",
        "ResponseMd5": "string",
        "SasExpiryStatus": "string",
        "SchemaVersion": "string",
        "ServerLatencyMs": "real",
        "ServiceType": "string",
        "SourceAccessTier": "string",
        "SourceUri": "string",
        "StatusCode": "string",
        "StatusText": "string",
        "TlsVersion": "string",
        "Uri": "string",
        "UserAgentHeader": "string",
    },
)

# Cosmos DB's DataPlaneRequests with logAnalyticsDestinationType Dedicated (reference/tables/cdbdataplanerequests).
CDB_DATA_PLANE_REQUESTS = _table(
    "CDBDataPlaneRequests",
    {
        "AadAppliedRoleAssignmentId": "string",
        "AadPrincipalId": "string",
        "AccountName": "string",
        "ActivityId": "string",
        "AuthTokenType": "string",
        "ClientIpAddress": "string",
        "CollectionName": "string",
        "ConnectionMode": "string",
        "DatabaseName": "string",
        "DurationMs": "real",
        "KeyType": "string",
        "OperationName": "string",
        "PartitionId": "string",
        "RegionName": "string",
        "RequestCharge": "real",
        "RequestLength": "real",
        "RequestResourceId": "string",
        "RequestResourceType": "string",
        "ResourceTokenPermissionId": "string",
        "ResourceTokenPermissionMode": "string",
        "ResourceTokenUserRid": "string",
        "ResponseLength": "real",
        "StatusCode": "int",
        "UserAgent": "string",
    },
)

# Cosmos DB's ControlPlaneRequests, Dedicated (reference/tables/cdbcontrolplanerequests).
CDB_CONTROL_PLANE_REQUESTS = _table(
    "CDBControlPlaneRequests",
    {
        "AccountName": "string",
        "AcledSubnets": "string",
        "ActivityId": "string",
        "ApiKind": "string",
        "ApiKindResourceType": "string",
        "AssociatedRoleDefinitionId": "string",
        "BackupIntervalInMinutes": "real",
        "BackupRetentionIntervalInHours": "real",
        "Cors": "string",
        "CurrentWriteRegion": "string",
        "DefaultConsistencyLevel": "string",
        "DurationMs": "real",
        "EnableAutomaticFailover": "bool",
        "EnableCassandraRequestsTrace": "bool",
        "EnableControlPlaneRequestsTrace": "bool",
        "EnableDataPlaneRequestsTrace": "bool",
        "EnableGremlinRequestsTrace": "bool",
        "EnableMongoRequestsTrace": "bool",
        "EnablePrivateEndpointConnection": "bool",
        "EnableVirtualNetworkFilter": "bool",
        "HttpMethod": "string",
        "HttpStatusCode": "int",
        "IpRangeFilter": "string",
        "MaxStalenessIntervalInSeconds": "real",
        "MaxStalenessPrefix": "string",
        "MultipleWriteLocations": "bool",
        "NewWriteRegion": "string",
        "OperationName": "string",
        "OperationType": "string",
        "PrivateEndpointArmUrl": "string",
        "PrivateEndpointConnections": "string",
        "RegionName": "string",
        "ResourceDetails": "string",
        "ResourceUri": "string",
        "Result": "string",
        "RoleAssignmentId": "string",
        "RoleAssignmentPrincipalId": "string",
        "RoleAssignmentPrincipalType": "string",
        "RoleAssignmentScope": "string",
        "RoleDefinitionAssignableScopes": "string",
        "RoleDefinitionId": "string",
        "RoleDefinitionName": "string",
        "RoleDefinitionPermissions": "string",
        "RoleDefinitionType": "string",
        "SqlQueryTextTraceType": "bool",
        "VirtualNetworkName": "string",
        "VirtualNetworkResourceEntries": "string",
        "VnetArmUrl": "string",
        "VnetDatabaseAccountEntries": "string",
        "VnetLocation": "string",
        "VnetResourceGroupName": "string",
    },
)

# The Activity log, from a subscription diagnostic setting (reference/tables/azureactivity).
AZURE_ACTIVITY = _table(
    "AzureActivity",
    {
        "ActivityStatus": "string",
        "ActivityStatusValue": "string",
        "ActivitySubstatus": "string",
        "ActivitySubstatusValue": "string",
        "Authorization": "string",
        "Authorization_d": "dynamic",
        "Caller": "string",
        "CallerIpAddress": "string",
        "Category": "string",
        "CategoryValue": "string",
        "Claims": "string",
        "Claims_d": "dynamic",
        "CorrelationId": "string",
        "EventDataId": "string",
        "EventSubmissionTimestamp": "datetime",
        "Hierarchy": "string",
        "HTTPRequest": "string",
        "Level": "string",
        "OperationId": "string",
        "OperationName": "string",
        "OperationNameValue": "string",
        "Properties": "string",
        "Properties_d": "dynamic",
        "Resource": "string",
        "ResourceGroup": "string",
        "ResourceId": "string",
        "ResourceProvider": "string",
        "ResourceProviderValue": "string",
        "SubscriptionId": "string",
    },
)

# The Functions host's log, FunctionAppLogs category (reference/tables/functionapplogs).
FUNCTION_APP_LOGS = _table(
    "FunctionAppLogs",
    {
        "ActivityId": "string",
        "AppName": "string",
        "Category": "string",
        "EventId": "int",
        "EventName": "string",
        "ExceptionDetails": "string",
        "ExceptionMessage": "string",
        "ExceptionType": "string",
        "FunctionInvocationId": "string",
        "FunctionName": "string",
        "HostInstanceId": "string",
        "HostVersion": "string",
        "Level": "string",
        "LevelId": "int",
        "Location": "string",
        "Message": "string",
        "ProcessId": "int",
        "RoleInstance": "string",
    },
)

TABLES: Mapping[str, Table] = MappingProxyType(
    {
        table.name: table
        for table in (
            AZKV_AUDIT_LOGS,
            STORAGE_BLOB_LOGS,
            CDB_DATA_PLANE_REQUESTS,
            CDB_CONTROL_PLANE_REQUESTS,
            AZURE_ACTIVITY,
            FUNCTION_APP_LOGS,
        )
    }
)
