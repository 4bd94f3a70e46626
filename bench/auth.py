"""Cost of bearer-token validation per request (issue 11: it must stay a small share of a capture).

Measures, in this process, the CPU time of ``TokenVerifier.verify`` (PyJWT: RS256 signature against the cached
JWKS, issuer/audience/expiry checks, claims to a Principal) on Keycloak-sized tokens from the test issuer, after a
warm-up (the one JWKS fetch is not counted). Compare with the leads process's CPU per request in the e2e
benchmark (bench/results/latest.md, "leads CPU ms/request").

    python -m bench.auth [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from shared.auth.http import build_verifier
from shared.auth.settings import AuthSettings
from tests.support.auth import TestIssuer


async def run(*, smoke: bool = False) -> dict[str, Any]:
    issuer = TestIssuer()
    try:
        verifier = build_verifier(AuthSettings(issuer=issuer.url), service="leads")
        token = issuer.token(subject="c1", roles=["consultant", "offline_access", "uma_authorization"],
                             team="t1", scopes=["openid", "profile", "email"], client="salesflow-web",
                             sid="x" * 36, preferred_username="c1", email="c1@salesflow.example")
        await verifier.verify(token)  # warm-up: fetches the JWKS once
        rounds, per_round = (3, 100) if smoke else (5, 1000)

        async def cpu_us(tokens: list[str]) -> float:
            cpu = time.process_time()
            for each in tokens:
                await verifier.verify(each)
            return (time.process_time() - cpu) / len(tokens) * 1e6

        # First sight: every token new (each a full check: header, signature, claims). Repeat: the same token
        # again, as a client sends it with every request until it expires (remembered after its first check).
        first = [await cpu_us([issuer.token(subject=f"c{i}", roles=["consultant"], team="t1", sid="x" * 36)
                               for i in range(per_round)]) for _ in range(rounds)]
        repeat = [await cpu_us([token] * per_round) for _ in range(rounds)]
        return {"token_bytes": len(token), "algorithm": "RS256 (2048-bit key)", "validations": 2 * rounds * per_round,
                "cpu_us_first_sight_median": round(statistics.median(first), 1),
                "cpu_us_repeat_median": round(statistics.median(repeat), 2), "jwks_fetches": issuer.jwks_requests}
    finally:
        issuer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    print(json.dumps(asyncio.run(run(smoke=parser.parse_args().smoke)), indent=2))


if __name__ == "__main__":
    main()
