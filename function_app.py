"""The function app's entry point: builds the FunctionApp and registers one blueprint per feature."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
