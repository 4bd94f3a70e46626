"""Public event contracts: the versioned API other teams subscribe to.

Every public event is a pydantic model registered with :func:`contract` under a stable explicit type name
(``salesflow.leads.LeadCreated``) and a schema version. Rules, checked in CI by ``tests/contracts``:

* changes within a version are additive (new optional fields only); a breaking change is a new version,
  registered beside the old one;
* consumers ignore fields they do not know (``extra="ignore"``) and event types they do not know
  (:func:`parse_payload` returns ``None``).

The JSON Schemas and the AsyncAPI document under ``contracts/`` at the repository root are generated from these
models (``make contracts``) and compared with the models in the test suite.
"""

# Importing the modules registers their contracts.
from shared.contracts import aftersales as aftersales
from shared.contracts import campaigns as campaigns
from shared.contracts import inbound as inbound
from shared.contracts import leads as leads
from shared.contracts import orders as orders
from shared.contracts import outreach as outreach
from shared.contracts import showroom as showroom
from shared.contracts.base import (
    ContractRegistry,
    IntegrationEvent,
    UnknownContractError,
    contract,
    registry,
)

__all__ = ["ContractRegistry", "IntegrationEvent", "UnknownContractError", "contract", "registry"]
