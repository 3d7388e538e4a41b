#!/usr/bin/env bash
# MLflow alone (PostgreSQL + tracking server) in namespace llmops, as the old guide's deploy-mlflow.sh did.
set -euo pipefail
cd "$(dirname "$0")"
source ./common.sh
ensure_namespace_and_secrets
kubectl apply -f postgres.yaml -f mlflow.yaml
kubectl -n "$NAMESPACE" rollout status deploy/postgres deploy/mlflow --timeout=300s
echo "MLflow is up: kubectl port-forward svc/mlflow-service 5000:5000 -n $NAMESPACE, then http://127.0.0.1:5000"
