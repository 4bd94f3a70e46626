"""Use cases of the after-sales service: command handlers, reactions to other services' events (process
managers) and timer handlers, all against the ports in ``ports.py``."""
