"""A minimal app for the tooling's own tests: one HTTP function, one secret, one blob container."""

import os

import azure.functions as func
from azure.identity.aio import ManagedIdentityCredential
from azure.keyvault.secrets.aio import SecretClient
from azure.storage.blob.aio import BlobServiceClient

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="notes/{name}", methods=["PUT"])
async def keep_note(req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params["name"]
    async with ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID")) as credential:
        async with SecretClient(os.environ["VAULT_URL"], credential) as vault:
            greeting = (await vault.get_secret("greeting")).value or ""
        async with BlobServiceClient(os.environ["NOTES_ACCOUNT_URL"], credential) as blobs:
            container = blobs.get_container_client(os.environ["NOTES_CONTAINER"])
            await container.upload_blob(name, req.get_body(), overwrite=True)
    return func.HttpResponse(f"kept {name}; greeting has {len(greeting)} characters", status_code=201)
