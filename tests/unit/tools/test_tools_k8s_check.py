"""tools/k8s: the offline checks of the rendered Kubernetes manifests catch what the operators or the API server
would refuse or silently ignore. (make k8s-check runs them on the real render of deploy/k8s.)"""

from __future__ import annotations

import copy
from typing import Any

from tools.k8s.check import Problem, check

Doc = dict[str, Any]


def kafka() -> Doc:
    return {"apiVersion": "kafka.strimzi.io/v1", "kind": "Kafka", "metadata": {"name": "k"},
            "spec": {"kafka": {"version": "4.1.1", "listeners": [
                {"name": "scram", "port": 9092, "type": "internal", "tls": False,
                 "authentication": {"type": "scram-sha-512"}}]}}}


def node_pool() -> Doc:
    return {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaNodePool",
            "metadata": {"name": "pool", "labels": {"strimzi.io/cluster": "k"}},
            "spec": {"replicas": 1, "roles": ["controller", "broker"],
                     "storage": {"type": "jbod", "volumes": [{"id": 0, "type": "persistent-claim", "size": "1Gi"}]}}}


def topic(name: str = "salesflow.leads") -> Doc:
    return {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
            "metadata": {"name": name.replace(".", "-"), "labels": {"strimzi.io/cluster": "k"}},
            "spec": {"topicName": name, "partitions": 3, "replicas": 1}}


def user(topic_name: str = "salesflow.leads") -> Doc:
    return {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaUser",
            "metadata": {"name": "leads", "labels": {"strimzi.io/cluster": "k"}},
            "spec": {"authentication": {"type": "scram-sha-512"}, "authorization": {"type": "simple", "acls": [
                {"resource": {"type": "topic", "name": topic_name, "patternType": "literal"},
                 "operations": ["Write", "Describe"]}]}}}


def database() -> Doc:
    return {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "leads-db"},
            "spec": {"instances": 1, "storage": {"size": "1Gi"},
                     "postgresql": {"parameters": {"max_connections": "300"}}}}


def deployment() -> Doc:
    probe = {"httpGet": {"path": "/health/live", "port": "http"}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "leads"}, "spec": {
        "selector": {"matchLabels": {"app": "leads"}},
        "template": {"metadata": {"labels": {"app": "leads"}}, "spec": {
            "securityContext": {"runAsNonRoot": True},
            "containers": [{
                "name": "leads", "image": "salesflow", "ports": [{"name": "http", "containerPort": 8080}],
                "env": [{"name": "LEADS_DATABASE_URL",
                         "valueFrom": {"secretKeyRef": {"name": "leads-db-app", "key": "uri"}}},
                        {"name": "LEADS_KAFKA_SASL_PASSWORD",
                         "valueFrom": {"secretKeyRef": {"name": "leads", "key": "password"}}}],
                "livenessProbe": probe, "readinessProbe": probe,
                "resources": {"requests": {"memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}}}]}}}}


def budget() -> Doc:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "leads"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "leads"}}}}


def autoscaler() -> Doc:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "leads"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "leads"},
                     "minReplicas": 1, "maxReplicas": 2}}


def manifests(**replace: Doc) -> list[Doc]:
    docs = {"kafka": kafka(), "pool": node_pool(), "topic": topic(), "user": user(), "database": database(),
            "deployment": deployment(), "budget": budget(), "autoscaler": autoscaler()}
    docs.update(replace)
    return list(docs.values())


def problems(docs: list[Doc]) -> list[str]:
    found: list[Problem] = check([("test.yaml", doc) for doc in docs])
    return [str(p) for p in found]


def test_a_consistent_set_of_manifests_has_no_problem() -> None:
    assert problems(manifests()) == []


def test_a_postgresql_parameter_given_as_a_number_is_refused() -> None:
    db = database()
    db["spec"]["postgresql"]["parameters"]["max_connections"] = 300
    found = problems(manifests(database=db))
    assert len(found) == 1
    assert "Cluster/leads-db: spec.postgresql.parameters.max_connections: 300 is not of type 'string'" in found[0]


def test_the_deprecated_singular_acl_operation_field_is_refused() -> None:
    old = user()
    acl = old["spec"]["authorization"]["acls"][0]
    acl["operation"] = acl.pop("operations")[0]
    found = problems(manifests(user=old))
    assert any("'operations' is a required property" in p for p in found), found
    assert any("'operation' was unexpected" in p for p in found), found


def test_an_acl_on_a_topic_nobody_declares_is_reported() -> None:
    assert problems(manifests(user=user("salesflow.leeds"))) == [
        "KafkaUser/leads: ACL on topic 'salesflow.leeds', which no KafkaTopic declares"]


def test_a_topic_with_more_replicas_than_brokers_is_reported() -> None:
    wide = topic()
    wide["spec"]["replicas"] = 3
    assert problems(manifests(topic=wide)) == ["KafkaTopic/salesflow-leads: spec.replicas 3 > 1 broker node(s)"]


def test_a_misspelt_core_field_fails_strict_kubernetes_validation() -> None:
    typo = deployment()
    typo["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    found = problems(manifests(deployment=typo))
    assert len(found) == 2, found  # one per Kubernetes version checked
    assert all("imagePullPolicyy" in p for p in found), found


def test_a_deployment_without_probes_or_a_read_only_root_is_reported() -> None:
    loose = deployment()
    container = loose["spec"]["template"]["spec"]["containers"][0]
    del container["readinessProbe"]
    container["securityContext"]["readOnlyRootFilesystem"] = False
    assert sorted(problems(manifests(deployment=loose))) == [
        "Deployment/leads container leads: readinessProbe is missing",
        "Deployment/leads container leads: securityContext.readOnlyRootFilesystem must be true",
    ]


def test_a_secret_no_operator_writes_is_reported_with_the_env_variable() -> None:
    wrong = deployment()
    env = wrong["spec"]["template"]["spec"]["containers"][0]["env"]
    env[0]["valueFrom"]["secretKeyRef"] = {"name": "leads-database", "key": "uri"}
    env[1]["valueFrom"]["secretKeyRef"] = {"name": "leads", "key": "secret"}
    found = problems(manifests(deployment=wrong))
    assert found == [
        "Deployment/leads container leads: env LEADS_DATABASE_URL: Secret 'leads-database' is neither rendered nor "
        "written by an operator (a KafkaUser's, a Cluster's <name>-app)",
        "Deployment/leads container leads: env LEADS_KAFKA_SASL_PASSWORD: Secret 'leads' has no key 'secret' "
        "(it has password, sasl.jaas.config)",
    ]


def test_a_deployment_without_a_disruption_budget_or_autoscaler_is_reported() -> None:
    docs = [d for d in manifests() if d["kind"] not in ("PodDisruptionBudget", "HorizontalPodAutoscaler")]
    assert problems(copy.deepcopy(docs)) == ["Deployment/leads: no PodDisruptionBudget selects its pods",
                                             "Deployment/leads: no HorizontalPodAutoscaler scales it"]
