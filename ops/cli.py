"""``salesflow``: the ops command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="Operate salesflow: status, dead letters, rebuild, verify, migrations.", no_args_is_help=True)
