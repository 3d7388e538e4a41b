"""Every setting of every part of otel-mlflow, in one table; each read once: argument, environment, default.

Usage::

    from otel_mlflow.config import Config, CaptureOptions, LLMServiceSettings, ReceiverSettings

    config = Config.from_env()                      # the exporter: environment and defaults
    config = Config.from_env(experiment_name="rag")  # an argument wins over the environment

A bad value raises :class:`ConfigError` naming the variable at construction, never a silent
default at export time.

Environment variables:

============================================  =====================  ==============================
variable                                      default                meaning
============================================  =====================  ==============================
``MLFLOW_TRACKING_URI``                       MLflow's default       where runs are written
                                              (``sqlite:///mlflow.db``)
``MLFLOW_EXPERIMENT_NAME``                    ``llmops-rag``         experiment of the runs
``MLFLOW_ARTIFACT_PATH``                      MLflow's default       artifact location of an
                                                                     experiment otel-mlflow creates
``MLFLOW_TRACKING_TOKEN``, ``..._USERNAME``,  unset                  MLflow's own credentials for a
``..._PASSWORD``                                                     server (also ``/v1/traces``)
``OTEL_MLFLOW_RUN_MODE``                      ``auto``               ``trace``: a run per trace;
                                                                     ``window``: a run per service and
                                                                     configuration per window;
                                                                     ``auto``: window for server requests
``OTEL_MLFLOW_REDACT_PATTERNS``               unset                  comma-separated regular expressions
                                                                     masked everywhere before writing
``OTEL_MLFLOW_REDACT_KEYS``                   unset                  extra secret words of keys (``ssn``)
``OTEL_MLFLOW_REDACT_ALLOW_KEYS``             unset                  globs of keys never masked (false
                                                                     positives of the built-in rules)
``OTEL_MLFLOW_WINDOW_SECONDS``                ``60``                 length of a serving window
``OTEL_MLFLOW_WINDOW_MAX_REQUESTS``           ``10000``              requests that close a window early
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``: ``true``: write prompt/response text
``OTEL_MLFLOW_TRACE_TIMEOUT``                 ``30``                 seconds to wait for a root span
``OTEL_MLFLOW_FLUSH_INTERVAL``                ``1.0``                seconds between writes
``OTEL_MLFLOW_MAX_QUEUE_SIZE``                ``20000``              spans buffered at most
``OTEL_MLFLOW_MAX_QUEUE_BYTES``               ``134217728``          memory those spans may hold (est.)
``OTEL_MLFLOW_MAX_TEXT_CHARS``                ``1000000``            chars kept per text artifact
``OTEL_MLFLOW_RETRY_TIMEOUT``                 ``60``                 exit gives up once MLflow failed this
                                                                     long (spool off: a write's retries)
``OTEL_MLFLOW_LOG_SPANS``                     ``true``               write ``spans.json`` per run
``OTEL_MLFLOW_LINK_TRACES``                   ``true``               also store each run's spans as
                                                                     MLflow traces linked to the run
``OTEL_MLFLOW_SPOOL``                         ``on``                 keep every accepted span on disk
                                                                     until MLflow has it (``off``: memory)
``OTEL_MLFLOW_SPOOL_DIR``                     beside a sqlite store, where the spool lives (one folder
                                              else a per-user cache  per tracking URI and experiment)
``OTEL_MLFLOW_SPOOL_MAX_BYTES``               ``1073741824``         disk the spool may use; past it new
                                                                     spans are dropped and counted
``OTEL_MLFLOW_EXIT_TIMEOUT``                  ``600``                seconds exit keeps writing while
                                                                     MLflow makes progress (SIGTERM: 20)
``OTEL_MLFLOW_WRITERS``                       4 (server), 1 (sqlite) writer threads
``OTEL_MLFLOW_REPLICA``                       ``<host>/<pid>``       this process among replicas writing one
                                                                     experiment: its window runs' tag
``OTEL_MLFLOW_LLM_FUNCTIONS``                 ``services.llm_service:  LLM-service functions patched
                                              generate_answer``      (``module:qualname``, comma-separated;
                                                                     the old guide's convention)
``OTEL_MLFLOW_LLM_MODEL``                     unset                  model named when a call does not say
``OTEL_MLFLOW_LLM_PROVIDER``                  unset                  provider named likewise
``OTEL_MLFLOW_QUESTION_FIELDS``               ``question``           request body field(s) of the question
``OTEL_MLFLOW_ANSWER_FIELDS``                 ``answer``             response body field(s) of the answer
``OTEL_MLFLOW_PARAM_FIELDS``                  unset                  request body fields written as run
                                                                     params (e.g. ``k,temperature``); also
                                                                     the runs view's columns
``OTEL_MLFLOW_PRICES``                        MLflow's table         JSON file of USD per 1M tokens by
                                                                     model (wins); ``off``: no cost
``OTEL_MLFLOW_SESSION_FROM``                  ``header:x-session-id, where a request's session id is read
                                              body:session_id``      (``header:<name>``, ``body:<field>``)
``OTEL_MLFLOW_USER_FROM``                     ``header:x-user-id,    where its user id is read
                                              body:user_id``
``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``         health routes          OpenTelemetry's: URLs that make no
                                                                     span (``/health``, ``/healthz``,
                                                                     ``/livez``, ``/readyz``, ``/ping``)
``OTEL_MLFLOW_RECEIVER_HOST``                 ``127.0.0.1``          receiver address (``--host``)
``OTEL_MLFLOW_RECEIVER_PORT``                 ``4319``               receiver's OTLP/HTTP port (``--port``)
``OTEL_MLFLOW_RECEIVER_GRPC_PORT``            ``4320``               receiver's OTLP/gRPC port
                                                                     (``--grpc-port``; 0: off)
``OTEL_MLFLOW_RECEIVER_TOKEN``                unset (no auth)        bearer token clients must send
``OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES``       ``16777216``           largest request body
``OTEL_MLFLOW_RECEIVER_MAX_SPANS``            ``50000``              most spans in one request
``OTEL_MLFLOW_RECEIVER_READ_TIMEOUT``         ``30``                 seconds an HTTP client has for each
                                                                     of: idle, headers, body
``OTEL_MLFLOW_RECEIVER_MAX_CONNECTIONS``      ``1000``               open HTTP connections; past it,
                                                                     503 with Retry-After
============================================  =====================  ==============================

Parts: :mod:`.exporter` (:class:`Config`), :mod:`.capture` (the instrumentors), :mod:`.receiver`, :mod:`.scrub`;
variable names in :mod:`.names`. Every number must be finite and greater than 0 (``inf`` is refused: it would stop the writer).
"""

from __future__ import annotations

from otel_mlflow.config.capture import (
    CaptureOptions,
    LLMServiceSettings,
    capture_content_from_env,
    capture_content_or_off,
)
from otel_mlflow.config.errors import ConfigError
from otel_mlflow.config.exporter import Config, is_server_uri
from otel_mlflow.config.names import *  # noqa: F403 - every variable name, from one place
from otel_mlflow.config.receiver import ReceiverSettings
from otel_mlflow.config.scrub import ScrubSettings
from otel_mlflow.config.service import default_service_name, service_name_given

__all__ = [
    "CaptureOptions",
    "Config",
    "ConfigError",
    "LLMServiceSettings",
    "ReceiverSettings",
    "ScrubSettings",
    "capture_content_from_env",
    "capture_content_or_off",
    "default_service_name",
    "is_server_uri",
    "service_name_given",
]
