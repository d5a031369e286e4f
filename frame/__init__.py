"""The frame a service keeps: settings, identity, clients, the request deadline, problems, access and diagnostics.

It never imports a feature (tests/unit/test_layers.py); function_app.py wires features to it.
"""
