"""A local Functions host for the Python v2 programming model, for machines without Core Tools.

It serves a `function_app.py` the way the Functions host and the Python worker would. On Python 3.13+
the worker part is the real one: azure-functions-runtime's own request handlers index, load and
invoke the functions (runtime_worker, runtime_invoker, runtime_http, runtime_logs, runtime_protos),
so return-value checks, request conversion and what reaches the host's log are the code that runs in
Azure. On 3.11/3.12 an in-process invoker stands in (invoker, context). The host part follows the
Functions host and Kestrel: route templates and routePrefix (routing, constraints), %2F kept encoded
(request_path), key checks and empty 401/404/500 bodies (keys), the body, header and response limits
and timeouts (limits, body, connection), and JSON log lines correlated by invocation id (logs).

It is a development host: timer schedules are never fired on their own. A timer runs when asked
through `POST /admin/functions/{name}` (master key), and once at start-up if it sets runOnStartup.
Only httpTrigger and timerTrigger functions without other bindings are supported.

Run it with `python -m devstack.funchost --app-dir DIR` (see __main__ for options). Other modules:
indexing (import and describe the app), worker_index (the real worker's indexing as a check),
http_binding (the host's request/response shapes), timers, admin (admin API), parent_watch, server.
"""
