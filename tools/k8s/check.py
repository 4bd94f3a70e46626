"""Check rendered Kubernetes manifests offline: ``python -m tools.k8s RENDERED.yaml...`` (``make k8s-check`` renders
every overlay of deploy/k8s with kustomize and passes the files here).

Three kinds of check, each naming the document and the field:

1. Core kinds (Deployment, Service, Job, HPA, PDB, NetworkPolicy, ...) against the Kubernetes API's own JSON Schemas
   (kubernetes-validate, strict: unknown fields fail), for the oldest and the newest Kubernetes we support.
2. The operators' kinds (Strimzi ``Kafka``/``KafkaNodePool``/``KafkaTopic``/``KafkaUser``, CloudNativePG ``Cluster``)
   against deploy/k8s/schemas: the fields we use, as the operators document them, unknown fields refused.
3. What the manifests promise each other and the house rules: every Secret a pod reads is one an operator writes
   (a KafkaUser's, a Cluster's ``-app``), every ACL names a declared topic, every Deployment has probes, resources,
   a non-root read-only security context, a PodDisruptionBudget and an autoscaler, every Service selects pods.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

SCHEMAS = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "schemas"
# The oldest Kubernetes still supported upstream that the manifests target, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
OPERATOR_GROUPS = ("kafka.strimzi.io", "postgresql.cnpg.io")

Doc = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def name_of(doc: Doc) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{meta.get('name')}"


def load(paths: list[Path]) -> list[tuple[str, Doc]]:
    """(source file, document) for every non-empty YAML document."""
    docs = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def operator_schema(doc: Doc) -> dict[str, Any] | None:
    path = SCHEMAS / f"{doc['apiVersion'].replace('/', '_')}_{doc['kind']}.json"
    if not path.exists():
        return None
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def check_schemas(doc: Doc) -> Iterator[str]:
    """Messages for what the API schema (Kubernetes' or the operator's) refuses."""
    group = doc.get("apiVersion", "").partition("/")[0] if "/" in doc.get("apiVersion", "") else ""
    if group in OPERATOR_GROUPS:
        schema = operator_schema(doc)
        if schema is None:
            yield f"no schema for {doc['apiVersion']} {doc['kind']} in {SCHEMAS} (add the fields it uses)"
            return
        validator = jsonschema.Draft202012Validator(schema)
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            field = ".".join(str(p) for p in error.absolute_path) or "(document)"
            yield f"{field}: {error.message}"
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            field = ".".join(str(p) for p in error.path) or "(document)"
            yield f"Kubernetes {version}: {field}: {error.message}"
        except kubernetes_validate.SchemaNotFoundError:
            yield f"Kubernetes {version} has no {doc.get('apiVersion')} {doc.get('kind')}"


def pod_spec(doc: Doc) -> Doc | None:
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        spec: Doc | None = doc.get("spec", {}).get("template", {}).get("spec")
        return spec
    return None


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_relations(docs: list[Doc]) -> Iterator[Problem]:
    """What the documents promise each other, and the house rules for pods."""
    by_kind: dict[str, list[Doc]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    names = {kind: {d["metadata"]["name"] for d in items} for kind, items in by_kind.items()}
    # Secrets that exist once the operators ran: the ones rendered, Strimzi's per KafkaUser (key password),
    # CloudNativePG's per Cluster (<name>-app, key uri).
    secrets: dict[str, set[str] | None] = {n: None for n in names.get("Secret", set())}
    secrets |= {n: {"password", "sasl.jaas.config"} for n in names.get("KafkaUser", set())}
    secrets |= {f"{n}-app": {"uri", "username", "password", "host", "port", "dbname", "pgpass", "jdbc-uri"}
                for n in names.get("Cluster", set())}
    config_maps = names.get("ConfigMap", set())
    kafkas = names.get("Kafka", set())
    topics = {d["spec"].get("topicName", d["metadata"]["name"]) for d in by_kind.get("KafkaTopic", [])}
    broker_nodes = sum(d["spec"].get("replicas", 0) for d in by_kind.get("KafkaNodePool", [])
                       if "broker" in d["spec"].get("roles", []))

    for doc in docs:
        where = name_of(doc)
        labels = doc.get("metadata", {}).get("labels") or {}
        strimzi_child = doc["kind"] in ("KafkaNodePool", "KafkaTopic", "KafkaUser")
        if strimzi_child and labels.get("strimzi.io/cluster") not in kafkas:
            yield Problem(where, f"label strimzi.io/cluster={labels.get('strimzi.io/cluster')!r} names no Kafka")
        if doc["kind"] == "KafkaTopic":
            spec = doc["spec"]
            if spec.get("replicas", 1) > broker_nodes:
                yield Problem(where, f"spec.replicas {spec['replicas']} > {broker_nodes} broker node(s)")
            min_isr = int(spec.get("config", {}).get("min.insync.replicas", 1))
            if min_isr > spec.get("replicas", 1):
                yield Problem(where, f"min.insync.replicas {min_isr} > spec.replicas {spec.get('replicas')}")
        if doc["kind"] == "KafkaUser":
            for acl in doc["spec"].get("authorization", {}).get("acls", []):
                resource = acl["resource"]
                if resource["type"] == "topic" and resource.get("patternType", "literal") == "literal" \
                        and resource["name"] not in topics:
                    yield Problem(where, f"ACL on topic {resource['name']!r}, which no KafkaTopic declares")
        if doc["kind"] == "Service":
            selector = doc["spec"].get("selector") or {}
            pods = [pod_labels(d) for d in by_kind.get("Deployment", [])]
            if not any(selects(selector, p) for p in pods):
                yield Problem(where, f"spec.selector {selector} selects no Deployment's pods")
        spec = pod_spec(doc)
        if spec is None:
            continue
        yield from check_pod(where, doc, spec, secrets, config_maps)
        if doc["kind"] == "Deployment":
            template_labels = pod_labels(doc)
            if not any(selects(p["spec"]["selector"].get("matchLabels", {}), template_labels)
                       for p in by_kind.get("PodDisruptionBudget", [])):
                yield Problem(where, "no PodDisruptionBudget selects its pods")
            if not any(h["spec"]["scaleTargetRef"]["name"] == doc["metadata"]["name"]
                       for h in by_kind.get("HorizontalPodAutoscaler", [])):
                yield Problem(where, "no HorizontalPodAutoscaler scales it")


def pod_labels(doc: Doc) -> dict[str, str]:
    labels: dict[str, str] = doc.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {}
    return labels


def check_pod(where: str, doc: Doc, spec: Doc, secrets: dict[str, set[str] | None],
              config_maps: set[str]) -> Iterator[Problem]:
    pod_security = spec.get("securityContext") or {}
    if pod_security.get("runAsNonRoot") is not True:
        yield Problem(where, "spec.template.spec.securityContext.runAsNonRoot must be true")
    for container in spec.get("containers", []):
        at = f"{where} container {container['name']}"
        security = container.get("securityContext") or {}
        if security.get("readOnlyRootFilesystem") is not True:
            yield Problem(at, "securityContext.readOnlyRootFilesystem must be true")
        if security.get("allowPrivilegeEscalation") is not False:
            yield Problem(at, "securityContext.allowPrivilegeEscalation must be false")
        if "ALL" not in (security.get("capabilities") or {}).get("drop", []):
            yield Problem(at, "securityContext.capabilities.drop must contain ALL")
        resources = container.get("resources") or {}
        for part in ("requests", "limits"):
            if "memory" not in (resources.get(part) or {}):
                yield Problem(at, f"resources.{part}.memory is missing")
        if doc["kind"] == "Deployment":
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in container:
                    yield Problem(at, f"{probe} is missing")
        for env in container.get("env", []):
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref is None:
                continue
            if ref["name"] not in secrets:
                yield Problem(at, f"env {env['name']}: Secret {ref['name']!r} is neither rendered nor written by an "
                                  "operator (a KafkaUser's, a Cluster's <name>-app)")
            elif (keys := secrets[ref["name"]]) is not None and ref["key"] not in keys:
                yield Problem(at, f"env {env['name']}: Secret {ref['name']!r} has no key {ref['key']!r} "
                                  f"(it has {', '.join(sorted(keys))})")
        for source in container.get("envFrom", []):
            name = (source.get("configMapRef") or {}).get("name")
            if name is not None and name not in config_maps:
                yield Problem(at, f"envFrom: ConfigMap {name!r} is not rendered")


def check(docs: list[tuple[str, Doc]]) -> list[Problem]:
    problems = [Problem(f"{source} {name_of(doc)}", message) for source, doc in docs for message in check_schemas(doc)]
    problems += check_relations([doc for _, doc in docs])
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.k8s", description="check rendered Kubernetes manifests")
    parser.add_argument("files", nargs="+", type=Path, help="rendered manifests (kustomize build output)")
    args = parser.parse_args(argv)
    failed = False
    for path in args.files:
        docs = load([path])
        problems = check(docs)
        kinds = sorted({doc["kind"] for _, doc in docs})
        if problems:
            failed = True
            print(f"{path}: {len(problems)} problem(s) in {len(docs)} documents", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"{path}: {len(docs)} documents valid ({', '.join(kinds)}; Kubernetes "
                  f"{' and '.join(KUBERNETES_VERSIONS)})")
    return 1 if failed else 0
