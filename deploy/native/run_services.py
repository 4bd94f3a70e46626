"""`make run`: start every salesflow service as a process, print the URLs, stop them all on Ctrl-C.

The infrastructure (PostgreSQL, Kafka) is brought up by `make up` before this runs; the environment carries
its addresses (see deploy/native/stack.sh env).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The services that exist so far, with their default ports (each reads <NAME>_HTTP_PORT).
SERVICES = {"leads": 8001, "orders": 8002, "aftersales": 8003, "reporting": 8004, "webhooks": 8005}
READY_TIMEOUT_S = 90
# A service shuts down gracefully in well under this (uvicorn waits up to 10 s for requests in flight, then the
# consumer, relay and pools close); only one that hangs is killed.
STOP_TIMEOUT_S = 45


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class _StopRequestedError(Exception):
    """Ctrl-C (SIGINT) or SIGTERM arrived: stop everything and exit 0."""


def _stop(signum: int, _: object) -> None:
    raise _StopRequestedError(signal.Signals(signum).name)


def main() -> int:
    # Ctrl-C reaches the whole foreground process group, so every service gets SIGINT at the same moment as we
    # do and exits on its own. Handling the signal here (rather than KeyboardInterrupt wherever it lands) means
    # the services' exits are never mistaken for a crash, and `make run` ends with exit 0 and one line.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, default_port in SERVICES.items():
            port = int(os.environ.get(f"{name.upper()}_HTTP_PORT", default_port))
            processes[name] = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO,
                                               env={**os.environ, f"{name.upper()}_HTTP_PORT": str(port)})
            SERVICES[name] = port
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = set(SERVICES)
        while pending:
            for name in list(pending):
                if processes[name].poll() is not None:
                    print(f"{name} exited with {processes[name].returncode}", file=sys.stderr)
                    return 1
                if ready(SERVICES[name]):
                    pending.discard(name)
            if time.monotonic() > deadline:
                print(f"not ready after {READY_TIMEOUT_S}s: {sorted(pending)}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print("\nsalesflow is running:")
        for name, port in SERVICES.items():
            print(f"  {name:<10} http://127.0.0.1:{port}   (API docs: http://127.0.0.1:{port}/docs, "
                  f"metrics: http://127.0.0.1:{port}/metrics)")
        issuer = os.environ.get("SALESFLOW_AUTH_ISSUER", "http://127.0.0.1:8180/realms/salesflow")
        print(f"  keycloak   {issuer}   (demo users c1 c2 c3 m1 m2 d1 ops1, password <user>-demo)")
        print("\nEvery call needs a token. A director's (password grant), then a lead and the funnel:")
        print(f"  TOKEN=$(curl -s {issuer}/protocol/openid-connect/token -d grant_type=password \\")
        print("          -d client_id=salesflow-cli -d username=d1 -d password=d1-demo | jq -r .access_token)")
        print("  curl -s -XPOST http://127.0.0.1:8001/v1/leads -H \"authorization: Bearer $TOKEN\" \\")
        print("       -H 'content-type: application/json' \\")
        print("       -d '{\"name\":\"张三\",\"phone\":\"138 1234 5678\",\"channel\":\"online_shop\"}'")
        print("  curl -s http://127.0.0.1:8004/v1/funnel -H \"authorization: Bearer $TOKEN\"")
        print("The shop system: -d grant_type=client_credentials -u shop:shop-demo-secret. Dashboard (sign in): "
              "http://127.0.0.1:8004/dashboard")
        print("Ops: salesflow status (eval \"$(bash deploy/native/stack.sh env)\" first).")
        print("\nCtrl-C stops the services (make down stops PostgreSQL, Kafka and Keycloak).", flush=True)
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        failed = {n: p.returncode for n, p in processes.items() if p.poll() is not None}
        print(f"service(s) stopped unexpectedly (exit codes): {failed}", file=sys.stderr)
        return 1
    except _StopRequestedError as stop:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the shutdown below
        print(f"\n{stop.args[0]}: stopping the services …", flush=True)
        codes = _stop_all(processes)
        print("salesflow stopped (PostgreSQL and Kafka keep running; make down stops them).", flush=True)
        unclean = {n: c for n, c in codes.items() if c not in (0, -signal.SIGTERM, -signal.SIGINT)}
        if unclean:
            print(f"  but these exited with an error: {unclean}", file=sys.stderr)
        return 0
    finally:
        _stop_all(processes)


def _stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, int]:
    """SIGTERM to each service still running, wait (killing what does not stop in 15 s); their exit codes."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return {name: process.returncode for name, process in processes.items()}


if __name__ == "__main__":
    sys.exit(main())
