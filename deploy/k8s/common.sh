# Shared by deploy.sh and deploy-mlflow.sh.
NAMESPACE=llmops
ensure_namespace_and_secrets() {
  kubectl apply -f namespace.yaml
  # Secrets are made once, with random values, and never stored in this repository.
  if ! kubectl -n "$NAMESPACE" get secret mlflow-postgres >/dev/null 2>&1; then
    kubectl -n "$NAMESPACE" create secret generic mlflow-postgres \
      --from-literal=password="${POSTGRES_PASSWORD:-$(openssl rand -hex 16)}"
  fi
  if ! kubectl -n "$NAMESPACE" get secret otel-mlflow-receiver >/dev/null 2>&1; then
    kubectl -n "$NAMESPACE" create secret generic otel-mlflow-receiver \
      --from-literal=token="${OTEL_MLFLOW_RECEIVER_TOKEN:-$(openssl rand -hex 24)}"
  fi
}
