"""Metrics, traces and access logs for every service (DESIGN §10): Prometheus ``/metrics``, OpenTelemetry spans
carried through Kafka's ``traceparent`` header, one structured log line per HTTP request."""
