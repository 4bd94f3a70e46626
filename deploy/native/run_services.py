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
SERVICES = {"leads": 8001, "orders": 8002, "aftersales": 8003, "reporting": 8004}
READY_TIMEOUT_S = 90


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> int:
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name, default_port in SERVICES.items():
        port = int(os.environ.get(f"{name.upper()}_HTTP_PORT", default_port))
        processes[name] = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO,
                                           env={**os.environ, f"{name.upper()}_HTTP_PORT": str(port)})
        SERVICES[name] = port
    try:
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
            print(f"  {name:<10} http://127.0.0.1:{port}   (API docs: http://127.0.0.1:{port}/docs)")
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
        print("\nCtrl-C stops the services (make down stops PostgreSQL, Kafka and Keycloak).", flush=True)
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        failed = [n for n, p in processes.items() if p.poll() is not None]
        print(f"service(s) stopped unexpectedly: {failed}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
