"""The function app: one blueprint per feature. What each function does is in its blueprint's module.

Importing it does no I/O and sets nothing up: settings, clients and telemetry are made on first use
(inbox/telemetry.py says why telemetry waits for the first invocation).
"""

import azure.functions as func

from inbox import digest, health, webhooks

# Routes are function-key protected unless a function says otherwise (ingest and health are public).
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(webhooks.bp)
app.register_functions(digest.bp)
app.register_functions(health.bp)
