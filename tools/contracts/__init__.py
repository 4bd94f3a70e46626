"""Generate and check ``contracts/`` (JSON Schemas, AsyncAPI) from the registered contract models."""
