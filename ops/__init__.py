"""The ops CLI, ``salesflow …`` (typer + rich): status, dead letters, rebuild, verify, migrations.

Outside every service on purpose: it is an operator's tool that uses their public entry points (databases,
topics, admin HTTP API), never a part of their code.
"""
