"""Every setting otel-mlflow reads, one row each: variable, keyword, parser, default, check, meaning, who reads it.

Each row is a :class:`~otel_mlflow.config.setting.Setting`, which is also the variable's name (a ``str``), so
``os.environ.get(ENV_SPOOL_DIR)`` and messages naming ``ENV_SPOOL_DIR`` use the row itself. The parts build their
settings from these rows (:class:`~otel_mlflow.config.Config`, :class:`~otel_mlflow.config.ReceiverSettings`,
the capture options, the scrub rules); the README's table and :mod:`otel_mlflow.config`'s docstring are made
from them (``tests/test_config.py`` checks the README's), and ``otel-mlflow doctor`` prints them resolved. Usage::

    from otel_mlflow.config.settings import ENV_SPOOL_DIR, SETTINGS, rows_of

    value = ENV_SPOOL_DIR.read({}, os.environ)      # parsed, or None (the default applies)
    exporter_rows = rows_of(EXPORTER)
"""

from __future__ import annotations

from otel_mlflow.config import parse
from otel_mlflow.config.setting import (
    EXPORTER,
    INSTRUMENTORS,
    MLFLOW_CLIENT,
    RECEIVER,
    SCRUB,
    Setting,
    duration,
    not_blank,
    one_of,
    port,
    positive,
    whole_between,
)

MAX_WRITERS = 64
MAX_BODY_BYTES = (1 << 31) - 1
"""gRPC takes a message size as a C int: a larger bound failed at start with a traceback."""
RUN_MODES = ("trace", "window", "auto")
STEP_MODES = ("request", "second", "auto")
WRITER_MODES = ("thread", "process")
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""MLflow's own default when ``MLFLOW_TRACKING_URI`` is unset (MLflow 3)."""
DEFAULT_EXPERIMENT_NAME = "llmops-rag"
"""The old helper module's experiment, kept so its users find their runs where they were."""
DEFAULT_LLM_FUNCTIONS = ("services.llm_service:generate_answer",)
"""The old helper guide's service convention (``services/llm_service.py`` defining ``generate_answer``)."""
DEFAULT_EXCLUDED_URLS = r"/(health|healthz|livez|readyz|ping|feedback)(\?|$)"
"""Health checks and feedback posts make no request spans (no probes or clicks among the window's requests; feedback
comes as ``log_feedback``'s own span): a regex the FastAPI instrumentation searches URLs for."""
BSP_MAX_QUEUE_SIZE = 20_480
"""Spans the SDK's BatchSpanProcessor holds when otel-mlflow sets it up (the SDK's 2,048 drops part of a
burst of requests; 20,480 spans of a few KB each stay bounded)."""
SIGTERM_EXIT_SECONDS = 20.0
"""Exit budget after SIGTERM: a serving process must stop within a 30 s grace period."""

# One row per setting, kept as a table: the formatter leaves the rows as written.
# fmt: off
# --- where and what (MLflow's own variables, the old helper module's names) ----------------------------------
ENV_TRACKING_URI = Setting(
    "MLFLOW_TRACKING_URI", field="tracking_uri", default_doc=f"MLflow's default, `{DEFAULT_TRACKING_URI}`",
    meaning="tracking store or server (`http://127.0.0.1:5000`)", readers=(EXPORTER, MLFLOW_CLIENT))
ENV_EXPERIMENT_NAME = Setting(
    "MLFLOW_EXPERIMENT_NAME", field="experiment_name", default=DEFAULT_EXPERIMENT_NAME, check=not_blank,
    meaning="experiment of the runs (created if missing)")
ENV_ARTIFACT_PATH = Setting(
    "MLFLOW_ARTIFACT_PATH", field="artifact_location",
    default_doc="`mlartifacts/` beside a sqlite store (in the working folder for the default `./mlflow.db` and "
                "other databases); a server decides its own",
    meaning="artifact location of an experiment otel-mlflow creates, the same rule for the zero-code exporter, "
            "`init_mlflow()`, the helper API and the demo; an existing experiment keeps its own")
ENV_TRACKING_TOKEN = Setting(
    "MLFLOW_TRACKING_TOKEN", field="tracking_token", secret=True, readers=(EXPORTER, MLFLOW_CLIENT),
    meaning="MLflow's bearer token for a server (also sent to its `/v1/traces`)")
ENV_TRACKING_USERNAME = Setting(
    "MLFLOW_TRACKING_USERNAME", field="tracking_username", readers=(EXPORTER, MLFLOW_CLIENT),
    meaning="MLflow's basic-auth user for a server (also for its `/v1/traces`)")
ENV_TRACKING_PASSWORD = Setting(
    "MLFLOW_TRACKING_PASSWORD", field="tracking_password", secret=True, readers=(EXPORTER, MLFLOW_CLIENT),
    meaning="that user's password")

# --- how spans become runs ----------------------------------------------------------------------------------
ENV_RUN_MODE = Setting(
    "OTEL_MLFLOW_RUN_MODE", field="run_mode", parse=parse.lower, default="auto", check=one_of("run mode", *RUN_MODES),
    meaning="`auto`: a window run for traces whose root is a SERVER span (served requests), a run per trace "
            "otherwise; `window`: always windows; `trace`: always a run per trace")
ENV_WINDOW_SECONDS = Setting(
    "OTEL_MLFLOW_WINDOW_SECONDS", field="window_seconds", parse=parse.seconds, default=60.0, default_doc="`60`",
    check=duration, meaning="how long a window run gathers requests")
ENV_WINDOW_MAX_REQUESTS = Setting(
    "OTEL_MLFLOW_WINDOW_MAX_REQUESTS", field="window_max_requests", parse=parse.whole, default=10_000,
    check=positive, meaning="requests that close a window early (bounds its memory)")
ENV_STEPS = Setting(
    "OTEL_MLFLOW_STEPS", field="steps", parse=parse.lower, default="auto", check=one_of("steps", *STEP_MODES),
    meaning="a window run's metric points: `request` (a step per request: `latency_ms`, tokens, cost), `second` "
            "(per-second aggregates whose cost does not grow with the rate: `requests.1s`, `errors.1s`, "
            "`latency_ms.1s.p50`/`.p95`/`.max`, tokens, cost), or `auto`: per request while requests come at most "
            "5 a second when a window opens, per second above (tag `otel_mlflow.steps`)")
ENV_CAPTURE_CONTENT = Setting(
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", field="capture_content", parse=parse.boolean,
    default=True, readers=(EXPORTER, INSTRUMENTORS),
    meaning="write prompt, context and response text; `false`/`NO_CONTENT`: deny by default, for every convention "
    "and every key (numbers, names, ids and strings of up to 64 characters stay)")
ENV_MESSAGE_REFS = Setting(
    "OTEL_MLFLOW_MESSAGE_REFS", field="message_refs", parse=parse.names, default=(), default_doc="none read",
    meaning="where the writer may read messages a span only refers to (`gen_ai.input.messages_ref`..., the GenAI "
            "upload hook's files): comma-separated path or URL prefixes (`/var/genai,s3://bucket/prompts`; fsspec "
            "URLs need fsspec). Read refs become the call's text; others stay links (tags of the run)")
ENV_TRACE_TIMEOUT = Setting(
    "OTEL_MLFLOW_TRACE_TIMEOUT", field="trace_timeout", parse=parse.seconds, default=30.0, default_doc="`30`",
    check=duration, meaning="seconds to wait for a trace's root span before writing what arrived")
ENV_MAX_TEXT_CHARS = Setting(
    "OTEL_MLFLOW_MAX_TEXT_CHARS", field="max_text_chars", parse=parse.whole, default=1_000_000, check=positive,
    meaning="characters kept per text artifact (the rest is cut, with a note)")
ENV_LOG_SPANS = Setting(
    "OTEL_MLFLOW_LOG_SPANS", field="log_spans", parse=parse.boolean, default=True,
    meaning="write the trace's spans as `spans.json`")
ENV_LINK_TRACES = Setting(
    "OTEL_MLFLOW_LINK_TRACES", field="link_traces", parse=parse.boolean, default=True,
    meaning="store runs' spans as MLflow traces linked to the runs (a server's `/v1/traces`, or in process for a "
            "database store); `false` is `OTEL_MLFLOW_TRACES=off`")
ENV_TRACES = Setting(
    "OTEL_MLFLOW_TRACES", field="traces", parse=parse.traces, default="adaptive",
    meaning="which requests get their MLflow trace stored: `all`, `off`, a share such as `0.1` (by trace id), or "
            "`adaptive`: all while the store keeps up, else failed, with feedback, slow, new configurations, then a "
            "sample; window runs count `traces.stored` / `traces.sampled_out`, each predictions row says which")
ENV_TRACE_BACKLOG_SECONDS = Setting(
    "OTEL_MLFLOW_TRACE_BACKLOG_SECONDS", field="trace_backlog_seconds", parse=parse.seconds, default=10.0,
    default_doc="`10`", check=duration,
    meaning="`adaptive`: past this many seconds of traces waiting to be stored (at the store's measured pace), "
            "traces are kept by priority")
ENV_PRICES = Setting(
    "OTEL_MLFLOW_PRICES", field="prices", default_doc="MLflow's bundled price table",
    meaning='a JSON file of USD per million tokens by model (`{"my-model": {"input": 0.3, "output": 1.2}}`), '
            "which wins over MLflow's table; `off`: no cost. Runs get `cost_usd` (per trace; per request and "
            "`cost_usd.total` in windows); a model without a price gets no cost")
ENV_REPLICA = Setting(
    "OTEL_MLFLOW_REPLICA", field="replica", default_doc="`<host>/<pid>`",
    meaning="this process's name among several writing one experiment: tag `otel_mlflow.replica` of its window "
            "runs; when set, also a ` [name]` suffix of their names (deploy/k8s sets the pod name)")
ENV_PARAM_FIELDS = Setting(
    "OTEL_MLFLOW_PARAM_FIELDS", field="param_fields", parse=parse.names, default=(),
    readers=(INSTRUMENTORS, EXPORTER),
    meaning="JSON request fields recorded as run params (the example app uses `k`); where the experiment is "
            "created (the app, or the receiver behind a Collector), also the runs view's columns")

# --- secrets ---------------------------------------------------------------------------------------------------
ENV_REDACT_PATTERNS = Setting(
    "OTEL_MLFLOW_REDACT_PATTERNS", field="redact_patterns", parse=parse.patterns, default=(),
    readers=(SCRUB, EXPORTER),
    meaning="comma-separated regular expressions masked as `[redacted]` in every text before writing (each "
            "bounded to 0.5 s per value; a comma inside `{m,n}` or `[...]` stays in its pattern)")
ENV_REDACT_KEYS = Setting(
    "OTEL_MLFLOW_REDACT_KEYS", field="redact_keys", parse=parse.names, default=(), readers=(SCRUB, EXPORTER),
    meaning="extra secret words: a key holding one as a whole word (split on `.` `_` `-` and camelCase) has its "
            "value masked, e.g. `ssn,iban`")
ENV_REDACT_ALLOW_KEYS = Setting(
    "OTEL_MLFLOW_REDACT_ALLOW_KEYS", field="redact_allow_keys", parse=parse.names, default=(),
    readers=(SCRUB, EXPORTER),
    meaning="globs of keys never masked and whose values skip the built-in shapes (false positives), "
            "e.g. `app.sk_model`")

# --- delivery: memory, spool, exit ----------------------------------------------------------------------------
ENV_FLUSH_INTERVAL = Setting(
    "OTEL_MLFLOW_FLUSH_INTERVAL", field="flush_interval", parse=parse.seconds, default=1.0, check=duration,
    meaning="seconds between write cycles")
ENV_MAX_QUEUE_SIZE = Setting(
    "OTEL_MLFLOW_MAX_QUEUE_SIZE", field="max_queue_size", parse=parse.whole, default=20_000, check=positive,
    meaning="spans held in memory at most; beyond, new spans wait on disk in the spool (without a spool: "
            "refused whole and counted)")
ENV_MAX_QUEUE_BYTES = Setting(
    "OTEL_MLFLOW_MAX_QUEUE_BYTES", field="max_queue_bytes", parse=parse.whole, default=128 << 20,
    default_doc="`134217728` (128 MiB)", check=positive,
    meaning="estimated memory those spans may hold (arrays, events and links counted); beyond, as above")
ENV_SPOOL = Setting(
    "OTEL_MLFLOW_SPOOL", field="spool", parse=parse.boolean, default=True, default_doc="`on`",
    meaning="keep every accepted span on disk until MLflow has it; `off`: memory only, lost if the process dies")
ENV_SPOOL_DIR = Setting(
    "OTEL_MLFLOW_SPOOL_DIR", field="spool_dir",
    default_doc="beside a sqlite store (`<its folder>/.otel-mlflow-spool/<key>`), else "
                "`$XDG_CACHE_HOME/otel-mlflow/spool/<key>`",
    meaning="the spool's folder; one per tracking store and experiment; files are owner-only (they hold prompts)")
ENV_SPOOL_MAX_BYTES = Setting(
    "OTEL_MLFLOW_SPOOL_MAX_BYTES", field="spool_max_bytes", parse=parse.whole, default=1 << 30,
    default_doc="`1073741824` (1 GiB)", check=positive,
    meaning="disk the spool may use; beyond, new batches are refused whole, counted, one warning a minute (the "
            "receiver answers 503)")
ENV_EXIT_TIMEOUT = Setting(
    "OTEL_MLFLOW_EXIT_TIMEOUT", field="exit_timeout", parse=parse.seconds, default=600.0, default_doc="`600`",
    check=duration, meaning="seconds exit keeps writing while MLflow makes progress (at most 20 s after SIGTERM)")
ENV_RETRY_TIMEOUT = Setting(
    "OTEL_MLFLOW_RETRY_TIMEOUT", field="retry_timeout", parse=parse.seconds, default=60.0, default_doc="`60`",
    check=duration,
    meaning="at exit, stop once MLflow has been failing this long (the rest stays spooled); without a spool, how "
            "long a failing write is retried before its spans are dropped")
ENV_WRITERS = Setting(
    "OTEL_MLFLOW_WRITERS", field="writers", parse=parse.whole, check=whole_between(1, MAX_WRITERS),
    default_doc="`4` for an `http(s)://` server, `1` for sqlite",
    meaning="writer threads; all writes of one run go through one of them, in order")
ENV_WRITER = Setting(
    "OTEL_MLFLOW_WRITER", field="writer", parse=parse.lower, default="thread",
    default_doc="`process` under `opentelemetry-instrument` (served apps), `thread` in code",
    check=one_of("writer", *WRITER_MODES),
    meaning="where the in-app exporter's writes to MLflow run: `thread` (writer threads in the app's process) or "
            "`process` (one writer process per spool folder, shared by the app's workers, started when needed, "
            "restarted when it dies; the app only spools: MLflow's client no longer shares its GIL)")

# --- the instrumentors ------------------------------------------------------------------------------------------
ENV_LLM_FUNCTIONS = Setting(
    "OTEL_MLFLOW_LLM_FUNCTIONS", field="functions", parse=parse.names, default=DEFAULT_LLM_FUNCTIONS,
    readers=(INSTRUMENTORS,), meaning="comma-separated `module:qualname` functions to trace as LLM calls "
                                      "(`functions=` of `LLMServiceInstrumentor.instrument`)")
ENV_LLM_MODEL = Setting(
    "OTEL_MLFLOW_LLM_MODEL", field="model", readers=(INSTRUMENTORS,),
    meaning="model named when an LLM call does not tell it (`model=`)")
ENV_LLM_PROVIDER = Setting(
    "OTEL_MLFLOW_LLM_PROVIDER", field="provider", readers=(INSTRUMENTORS,),
    meaning="provider named likewise (`provider=`)")
ENV_QUESTION_FIELDS = Setting(
    "OTEL_MLFLOW_QUESTION_FIELDS", field="question_fields", parse=parse.names, default=("question",),
    readers=(INSTRUMENTORS,), meaning="JSON request body field(s) read as the question")
ENV_ANSWER_FIELDS = Setting(
    "OTEL_MLFLOW_ANSWER_FIELDS", field="answer_fields", parse=parse.names, default=("answer",),
    readers=(INSTRUMENTORS,), meaning="JSON response body field(s) read as the answer")
ENV_SESSION_FROM = Setting(
    "OTEL_MLFLOW_SESSION_FROM", field="session_from", parse=parse.names,
    default=("header:x-session-id", "body:session_id"), readers=(INSTRUMENTORS,),
    meaning="where a request's session id is read (`header:<name>`, `body:<field>`): `session.id`, MLflow's "
            "Sessions view")
ENV_USER_FROM = Setting(
    "OTEL_MLFLOW_USER_FROM", field="user_from", parse=parse.names, default=("header:x-user-id", "body:user_id"),
    readers=(INSTRUMENTORS,), meaning="where its user id is read: `user.id`")
ENV_FASTAPI_EXCLUDED_URLS = Setting(
    "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", field="excluded_urls", default=DEFAULT_EXCLUDED_URLS,
    default_doc="health routes and `/feedback`", readers=(INSTRUMENTORS,),
    meaning="OpenTelemetry's own: URLs that make no span (`/health`, `/healthz`, `/livez`, `/readyz`, `/ping`, "
            "`/feedback`); otel-mlflow only gives it a default")

# --- decisions from telemetry: objectives, alerts, evaluation cases (rows in decision_settings.py) ---------------
from otel_mlflow.config.decision_settings import ENV_ALERT_WEBHOOK as ENV_ALERT_WEBHOOK  # noqa: E402
from otel_mlflow.config.decision_settings import ENV_EVAL_DATASET as ENV_EVAL_DATASET  # noqa: E402
from otel_mlflow.config.decision_settings import ENV_EVAL_RULE as ENV_EVAL_RULE  # noqa: E402
from otel_mlflow.config.decision_settings import ENV_SLO as ENV_SLO  # noqa: E402 - here: the docs tables list them here

# --- the receiver (`otel-mlflow receive`) -----------------------------------------------------------------------
ENV_RECEIVER_HOST = Setting(
    "OTEL_MLFLOW_RECEIVER_HOST", field="host", default="127.0.0.1", readers=(RECEIVER,),
    meaning="receiver address (`--host`); beyond loopback, set a token")
ENV_RECEIVER_PORT = Setting(
    "OTEL_MLFLOW_RECEIVER_PORT", field="port", parse=parse.whole, default=4319, readers=(RECEIVER,), check=port,
    meaning="receiver's OTLP/HTTP port (`--port`; 0: any free port)")
ENV_RECEIVER_GRPC_PORT = Setting(
    "OTEL_MLFLOW_RECEIVER_GRPC_PORT", field="grpc_port", parse=parse.whole, default=4320, readers=(RECEIVER,),
    check=port, meaning="receiver's OTLP/gRPC port (`--grpc-port`; 0: no OTLP/gRPC)")
ENV_RECEIVER_TOKEN = Setting(
    "OTEL_MLFLOW_RECEIVER_TOKEN", field="token", default_doc="unset (no auth)", readers=(RECEIVER,), secret=True,
    meaning="bearer token clients must send (`--token`)")
ENV_RECEIVER_MAX_BODY_BYTES = Setting(
    "OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES", field="max_body_bytes", parse=parse.whole, default=16 << 20,
    default_doc="`16777216` (16 MiB)", readers=(RECEIVER,), check=whole_between(1, MAX_BODY_BYTES),
    meaning="largest request body (`--max-body-bytes`); over it, 413 (gRPC: RESOURCE_EXHAUSTED) with the reason")
ENV_RECEIVER_MAX_SPANS = Setting(
    "OTEL_MLFLOW_RECEIVER_MAX_SPANS", field="max_spans", parse=parse.whole, default=50_000, readers=(RECEIVER,),
    check=positive, meaning="most spans in one request (`--max-spans`); over it, 413 (gRPC: INVALID_ARGUMENT)")
ENV_RECEIVER_READ_TIMEOUT = Setting(
    "OTEL_MLFLOW_RECEIVER_READ_TIMEOUT", field="read_timeout", parse=parse.seconds, default=30.0,
    default_doc="`30`", readers=(RECEIVER,), check=duration,
    meaning="OTLP/HTTP: seconds for each of a connection's first byte, a request's headers, its body (not "
            "extended by trickling) (`--read-timeout`)")
ENV_RECEIVER_MAX_CONNECTIONS = Setting(
    "OTEL_MLFLOW_RECEIVER_MAX_CONNECTIONS", field="max_connections", parse=parse.whole, default=1000,
    readers=(RECEIVER,), check=positive,
    meaning="open OTLP/HTTP connections; one past it gets 503 + `Retry-After` at once and is closed "
            "(`--max-connections`; lowered to what the open-file limit allows, which `receive` raises to its maximum)")
ENV_RECEIVER_MAX_CONNECTIONS_PER_CLIENT = Setting(
    "OTEL_MLFLOW_RECEIVER_MAX_CONNECTIONS_PER_CLIENT", field="max_connections_per_client", parse=parse.whole,
    default=100, readers=(RECEIVER,), check=positive,
    meaning="open OTLP/HTTP connections from one address; past it, as above (`--max-connections-per-client`; "
            "behind a proxy, every client is the proxy: raise it to `--max-connections`)")
# fmt: on

SETTINGS: tuple[Setting, ...] = tuple(v for k, v in dict(globals()).items() if k.startswith("ENV_"))
"""Every row, in the order above (the docs tables' order)."""


def rows_of(reader: str) -> tuple[Setting, ...]:
    """The rows a part reads."""
    return tuple(row for row in SETTINGS if reader in row.readers)
