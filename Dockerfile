# otel-mlflow: the OTLP receiver (default command) and the example RAG app, in one image.
#   docker build -t otel-mlflow/receiver:0.1.0 .
#   docker run -p 127.0.0.1:4319:4319 -p 127.0.0.1:4320:4320 -e MLFLOW_TRACKING_URI=http://mlflow-service:5000 otel-mlflow/receiver:0.1.0
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY otel_mlflow ./otel_mlflow
COPY instrumentors ./instrumentors
RUN pip install --no-cache-dir ".[otlp]"
COPY examples ./examples

ENV MLFLOW_DISABLE_TELEMETRY=true \
    OTEL_MLFLOW_RECEIVER_HOST=0.0.0.0 \
    OTEL_MLFLOW_RECEIVER_PORT=4319 \
    OTEL_MLFLOW_RECEIVER_GRPC_PORT=4320
USER 10001
# OTLP/HTTP and OTLP/gRPC
EXPOSE 4319 4320
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4319/health')"
CMD ["otel-mlflow", "receive"]
