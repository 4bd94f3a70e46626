"""deploy/observability: the Grafana dashboard and the Prometheus rules only query series the services expose,
and are well-formed (every alert has an expression, a duration, a severity and a summary)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import Counter, Histogram

from shared.observability.metrics import service_metrics

FOLDER = Path(__file__).resolve().parents[3] / "deploy" / "observability"
_SERIES = re.compile(r"\b(salesflow_[a-z_]+)\b")


def exposed_series() -> set[str]:
    names = set()
    for metric in vars(service_metrics()).values():
        base = metric._name
        if isinstance(metric, Counter):
            names.add(f"{base}_total")
        elif isinstance(metric, Histogram):
            names |= {f"{base}_bucket", f"{base}_count", f"{base}_sum"}
        else:
            names.add(base)
    return names


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((FOLDER / "alerts.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((FOLDER / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_series_the_dashboard_and_the_alerts_query_is_exposed() -> None:
    queried = {name for expr in [*dashboard_expressions(), *(r["expr"] for r in alert_rules())]
               for name in _SERIES.findall(expr)}
    assert queried, "no salesflow series queried at all"
    assert queried - exposed_series() == set()


def test_the_lags_each_have_an_alert() -> None:
    alerted = {name for rule in alert_rules() for name in _SERIES.findall(rule["expr"])}
    for lag in ("salesflow_relay_oldest_unpublished_age_seconds", "salesflow_consumer_lag_messages",
                "salesflow_projection_lag_seconds_bucket", "salesflow_dead_letters_open",
                "salesflow_timers_late_seconds"):
        assert lag in alerted


def test_every_alert_is_complete() -> None:
    rules = alert_rules()
    assert len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["expr"].strip(), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_the_dashboard_panels_have_unique_ids_and_a_prometheus_datasource() -> None:
    dashboard = json.loads((FOLDER / "grafana-dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["datasource"]["type"] == "prometheus" for p in dashboard["panels"] if "targets" in p)
    assert dashboard_expressions()
