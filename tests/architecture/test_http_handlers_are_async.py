"""Endpoints and dependencies are ``async def``: FastAPI runs a plain ``def`` one in a worker thread on every
request, and the hop cost leads' list reads about 250 µs of CPU each (bench/results/http-cost-20261204.md). Checked
in the source (a function named in ``Depends``/``Security``/``add_api_route`` or decorated as a route, defined in
the same module), so a new one is caught without building every service's app."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HTTP_FILES = sorted(p for p in [*REPO.glob("services/**/*.py"), *REPO.glob("shared/**/*.py")]
                    if "/domain/" not in str(p))
_ROUTE_DECORATORS = frozenset({"get", "post", "put", "patch", "delete", "api_route"})


def sync_handlers(source: str) -> list[str]:
    """``name:line`` of every plain-``def`` endpoint or dependency in ``source``."""
    tree = ast.parse(source)
    sync = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                        and decorator.func.attr in _ROUTE_DECORATORS):
                    found.append(f"{node.name}:{node.lineno}")
        elif isinstance(node, ast.Call):
            callee = node.func.id if isinstance(node.func, ast.Name) else (
                node.func.attr if isinstance(node.func, ast.Attribute) else "")
            named = node.args[:1] if callee in ("Depends", "Security") else (
                node.args[1:2] if callee == "add_api_route" else [])
            named += [k.value for k in node.keywords if k.arg in ("dependency", "endpoint")]
            found += [f"{a.id}:{sync[a.id].lineno}" for a in named if isinstance(a, ast.Name) and a.id in sync]
    return sorted(set(found))


def test_the_check_finds_a_plain_def_dependency_and_endpoint() -> None:
    source = ("def filters(grade=None): ...\n"
              "async def fine(): ...\n"
              "Param = Annotated[str, Depends(filters)]\n"
              "Other = Annotated[str, Depends(fine)]\n"
              "@router.get('/x')\n"
              "def endpoint(): ...\n"
              "def added(): ...\n"
              "router.add_api_route('/y', added)\n")
    assert sync_handlers(source) == ["added:7", "endpoint:6", "filters:1"]


def test_there_are_http_modules_to_check() -> None:
    assert any(p.name == "work_queue_api.py" for p in HTTP_FILES)


@pytest.mark.parametrize("path", HTTP_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_endpoints_and_dependencies_are_async(path: Path) -> None:
    assert sync_handlers(path.read_text()) == []
