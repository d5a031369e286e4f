"""The function app: where the frame (frame/) and the feature (webhooks/) meet, and nowhere else.

The frame never imports the feature: this file registers the feature's blueprints, tells the frame
where the feature's grants file is, and hands diagnostics the feature's probes. To start another
service, keep frame/, replace webhooks/ and these lines (README, "Start your own service").

Importing it does no I/O and sets nothing up: settings, clients, telemetry and the grants file are
read on first use (frame/telemetry.py says why telemetry waits for the first invocation).
"""

from pathlib import Path

import azure.functions as func

from frame import access, diagnostics
from frame.settings import Settings
from webhooks import digest, probes, routes
from webhooks.settings import WebhookSettings

# Every app setting the app reads, frame's and feature's: the infra checks and the sample compare against these.
SETTINGS = (Settings, WebhookSettings)

# Routes are function-key protected unless a function says otherwise (ingest and health are public).
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(routes.bp)
app.register_functions(digest.bp)
app.register_functions(diagnostics.bp)

access.use_grants(Path(__file__).parent / "webhooks" / "grants.json")
diagnostics.register(probes.checkup)
