"""The webhook inbox feature, on the frame: signed deliveries archived in Blob, indexed in Cosmos DB, queried.

A new service replaces this package (and its blueprints, grants file and probes in function_app.py).
"""
