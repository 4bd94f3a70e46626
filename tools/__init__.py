"""Build tools: run at build and CI time, never imported by a service or the runtime kernel."""
