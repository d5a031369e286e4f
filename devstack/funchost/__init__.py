"""A local Functions host for the Python v2 programming model, for machines without Core Tools.

It serves a `function_app.py` the way the Functions host and the Python worker would: the same
indexing (the real worker's, on Python 3.13 with azure-functions-runtime), the same route templates
and routePrefix, the same key checks and status codes (empty 401/404/500 bodies), real
`func.HttpRequest` / `func.Context` / `TimerRequest` objects, async functions on the event loop and
sync ones in a thread pool, and worker-style JSON log lines correlated by invocation id.

It is a development host: timer schedules are never fired on their own. A timer runs when asked
through `POST /admin/functions/{name}` (master key), and once at start-up if it sets runOnStartup.
Only httpTrigger and timerTrigger functions without other bindings are supported.

Run it with `python -m devstack.funchost --app-dir DIR` (see __main__ for options). Modules:
indexing (import and describe the app), worker_index (the real worker's indexing), routing and
constraints (route templates), keys (auth levels), http_binding (request/response conversion),
invoker and context (calling functions), timers, admin (admin API), logs, parent_watch, server.
"""
