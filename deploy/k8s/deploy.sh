#!/usr/bin/env bash
# The whole stack in namespace llmops: PostgreSQL, MLflow, otel-mlflow's receiver, the Collector.
#   BUILD_IMAGES=1 ./deploy/k8s/deploy.sh     # also build the two images (docker) first
set -euo pipefail
cd "$(dirname "$0")"
source ./common.sh
if [[ "${BUILD_IMAGES:-0}" == "1" ]]; then
  docker build -t otel-mlflow/mlflow:3.17.2 ../mlflow
  docker build -t otel-mlflow/receiver:0.1.0 ../..
fi
ensure_namespace_and_secrets
# one Collector configuration for compose and Kubernetes: the repository's collector-config.yaml
kubectl -n "$NAMESPACE" create configmap otel-collector-config \
  --from-file=config.yaml=../../collector-config.yaml --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f postgres.yaml -f mlflow.yaml -f receiver.yaml -f collector.yaml
kubectl -n "$NAMESPACE" rollout status deploy/postgres deploy/mlflow statefulset/otel-mlflow-receiver \
  deploy/otel-collector --timeout=300s
echo "Send OTLP to otel-collector.$NAMESPACE:4318 (HTTP) or :4317 (gRPC)."
echo "MLflow UI: kubectl port-forward svc/mlflow-service 5000:5000 -n $NAMESPACE, then http://127.0.0.1:5000"
