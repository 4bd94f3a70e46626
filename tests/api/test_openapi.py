"""Every service's HTTP API as a whole, against its own OpenAPI: the four services run as real processes (real
PostgreSQL and Kafka), then

- schemathesis (tests/api/schemathesis.toml, every check on: no server error, responses and headers conform to
  the documented schemas and content types, every status code documented, schema-invalid input refused,
  undeclared methods answer 405 with ``Allow``...) fuzzes each OpenAPI at a bounded number of examples per
  operation, through all its phases, stateful included, with a bearer token from the test issuer;
- ``redocly lint`` (tests/api/redocly.yaml) finds no error and no warning in it.

It takes minutes, so it is not part of ``make test``: ``make fuzz`` runs it (``.ci/run`` does, after ``make test``).
SALESFLOW_FUZZ_EXAMPLES (``make fuzz FUZZ_EXAMPLES=100``) sets the examples per operation; SALESFLOW_FUZZ_SEED
replays a run (the test prints each run's seed)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.aftersales import create_module_database, drop_database
from tests.support.auth import test_issuer
from tests.support.infra import RUN_ID, Infra
from tests.support.processes import ServiceProcess, start_service, stop_service

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]

HERE = Path(__file__).parent
SERVICES = ("leads", "orders", "aftersales", "reporting", "webhooks")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
REDOCLY = HERE / "node_modules" / ".bin" / "redocly"


@pytest.fixture(scope="module")
async def services(infra: Infra) -> AsyncIterator[dict[str, ServiceProcess]]:
    databases = {name: await create_module_database(infra, f"api_{name}") for name in SERVICES}
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}api"}
    for name, (_, dsn) in databases.items():
        env[f"{name.upper()}_DATABASE_URL"] = dsn
    started: dict[str, ServiceProcess] = {}
    try:
        for name in SERVICES:
            # webhooks on a prefix no events flow on: the fuzzer's subscriptions name arbitrary URLs, and nothing
            # may be delivered off this machine
            own = {"SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}apihooks"} if name == "webhooks" else {}
            started[name] = await start_service(name, {**env, **own})
        yield started
    finally:
        for service in started.values():
            await stop_service(service)
        for db_name, _ in databases.values():
            await drop_database(infra, db_name)


def fuzzing_token() -> str:
    """A person with every role and the webhooks scope (so the operations behind role and scope checks are reached,
    not only their 403), valid for longer than a run."""
    return test_issuer().token(subject="m1", roles=["manager", "director", "ops", "consultant"], team="t1",
                               scopes=["webhooks:manage"], expires_in=3600)


async def run(*command: str | Path, cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *map(str, command), cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        output, _ = await process.communicate()
    finally:
        if process.returncode is None:  # the test was interrupted (timeout): do not leave the fuzzer running
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.mark.timeout(1200)  # one service's run takes minutes on two shared cores; the suite's default is 180 s
@pytest.mark.parametrize("name", SERVICES)
async def test_schemathesis_finds_nothing(services: dict[str, ServiceProcess], name: str, tmp_path: Path) -> None:
    service = services[name]
    examples = os.environ.get("SALESFLOW_FUZZ_EXAMPLES")
    seed = os.environ.get("SALESFLOW_FUZZ_SEED")
    code, output = await run(
        SCHEMATHESIS, "--config-file", HERE / "schemathesis.toml", "run", f"{service.url}/openapi.json",
        "--checks", "all", "--workers", "1", "--header", f"Authorization: Bearer {fuzzing_token()}",
        "--report", "json", "--report-json-path", tmp_path / "report.json",
        *(["--max-examples", examples] if examples else []), *(["--seed", seed] if seed else []),
        cwd=tmp_path,
    )
    report: dict[str, Any] = json.loads((tmp_path / "report.json").read_text())
    summary = "; ".join(f"{f['code']} {f['title']}: {f['count']} in {', '.join(f['operations'])}"
                        for f in report["failures"])
    print(f"{name}: {report['test_cases']['generated']} test cases over {report['operations']['tested']} "
          f"operations, seed {report['seed']}, failures: {summary or 'none'}")
    assert report["operations"]["tested"] > 0, output[-3000:]
    assert report["failures"] == [], f"{summary}\n\n{output[-12000:]}"
    assert report["errors"] == [], output[-12000:]
    assert code == 0, output[-12000:]


@pytest.mark.parametrize("name", SERVICES)
async def test_redocly_lint_is_clean(services: dict[str, ServiceProcess], name: str, tmp_path: Path) -> None:
    async with httpx.AsyncClient(timeout=20) as client:
        document = (await client.get(f"{services[name].url}/openapi.json")).raise_for_status().json()
    path = tmp_path / f"{name}.openapi.json"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1))
    code, output = await run(REDOCLY, "lint", "--config", HERE / "redocly.yaml", "--format", "json", path, cwd=HERE)
    # The JSON report, then (on stderr, merged here) redocly's summary and any Node.js notice.
    result, _ = json.JSONDecoder().raw_decode(output, output.index('{\n  "totals"'))
    problems = [f"{p['severity']} {p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
                for p in result["problems"]]
    assert problems == [], "\n".join(problems)
    assert code == 0, output[-3000:]
