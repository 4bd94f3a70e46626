"""The Kafka ACL table has one source, deploy/kafka/acls.tsv: the native stack's kafka.sh writes exactly its rows
with AclCommand, the Kubernetes KafkaUsers grant exactly its rows, and deploy/README.md points at it instead of
keeping a copy — so the three cannot drift apart."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
TABLE = REPO / "deploy" / "kafka" / "acls.tsv"
PREFIX = "salesflow"

# (principal, resource type, resource name, operation): one right.
Right = tuple[str, str, str, str]


def table_rights() -> set[Right]:
    rights: set[Right] = set()
    for line in TABLE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        principal, operations, kind, name = line.split()
        full = f"{PREFIX}.{name}" if kind == "topic" else name
        rights |= {(principal, kind, full, operation) for operation in operations.split(",")}
    return rights


def kafka_sh_rights(table: Path = TABLE) -> set[Right]:
    script = (f"source deploy/native/common.sh >/dev/null && source deploy/native/kafka.sh && "
              f"KAFKA_ACL_TABLE={table} && kafka_acl_specs")
    done = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    rights: set[Right] = set()
    for spec in done.stdout.splitlines():
        words = spec.split()
        pairs = list(zip(words[::2], words[1::2], strict=True))
        principal = next(v for k, v in pairs if k == "--allow-principal").removeprefix("User:")
        operations = [v for k, v in pairs if k == "--operation"]
        resources = [(k.removeprefix("--"), v) for k, v in pairs if k in ("--topic", "--group")]
        rights |= {(principal, kind, name, op) for kind, name in resources for op in operations}
    return rights


def k8s_rights() -> set[Right]:
    rights: set[Right] = set()
    for doc in yaml.safe_load_all((REPO / "deploy" / "k8s" / "base" / "kafka-users.yaml").read_text()):
        if not doc or doc.get("kind") != "KafkaUser":
            continue
        for acl in doc["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            assert resource.get("patternType", "literal") == "literal"
            assert acl.get("host", "*") == "*"
            assert acl.get("type", "allow") == "allow"
            rights |= {(doc["metadata"]["name"], resource["type"], resource["name"], op)
                       for op in acl["operations"]}
    return rights


def test_the_table_is_not_empty_and_names_every_service_and_every_inbound_writer() -> None:
    assert {principal for principal, *_ in table_rights()} == {"leads", "orders", "aftersales", "reporting", "webhooks",
                                                                 "shop", "call-center"}


def test_an_inbound_writer_may_write_its_own_inbound_topic_and_nothing_else() -> None:
    writers = {(p, kind, name, op) for p, kind, name, op in table_rights() if p in ("shop", "call-center")}
    assert writers == {("shop", "topic", "salesflow.inbound.shop", "Write"),
                       ("shop", "topic", "salesflow.inbound.shop", "Describe"),
                       ("call-center", "topic", "salesflow.inbound.calls", "Write"),
                       ("call-center", "topic", "salesflow.inbound.calls", "Describe")}


def test_kafka_sh_writes_exactly_the_table() -> None:
    assert kafka_sh_rights() == table_rights()


def test_the_kubernetes_kafka_users_grant_exactly_the_table() -> None:
    assert k8s_rights() == table_rights()


def test_kafka_sh_refuses_a_malformed_table(tmp_path: Path) -> None:
    bad = tmp_path / "acls.tsv"
    bad.write_text("leads Write topic\n")
    with pytest.raises(subprocess.CalledProcessError) as failed:
        kafka_sh_rights(bad)
    assert "acls.tsv:1" in failed.value.stderr


def test_the_deploy_readme_points_at_the_table_instead_of_copying_it() -> None:
    readme = (REPO / "deploy" / "README.md").read_text()
    assert "kafka/acls.tsv" in readme
    assert "| `User:leads` |" not in readme
