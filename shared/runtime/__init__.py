"""Process plumbing shared by the services: the HTTP app skeleton (health, errors, admin) and lifecycle."""
