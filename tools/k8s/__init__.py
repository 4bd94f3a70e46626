"""Offline checks of the rendered Kubernetes manifests (deploy/k8s): ``make k8s-check``."""
