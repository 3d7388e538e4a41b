from __future__ import annotations

import pytest

from otel_mlflow.config import Config, ConfigError


def test_defaults_without_environment() -> None:
    config = Config.from_env(env={})
    assert config.tracking_uri is None  # MLflow's own default applies
    assert config.experiment_name == "llmops-rag"
    assert config.artifact_location is None
    assert config.run_mode == "auto"
    assert config.capture_content is True


def test_environment_is_read() -> None:
    config = Config.from_env(
        env={
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
            "MLFLOW_EXPERIMENT_NAME": "rag-prod",
            "MLFLOW_ARTIFACT_PATH": "/tmp/arts",
            "OTEL_MLFLOW_RUN_MODE": "TRACE",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false",
            "OTEL_MLFLOW_TRACE_TIMEOUT": "5",
            "OTEL_MLFLOW_MAX_QUEUE_SIZE": "100",
        }
    )
    assert config.tracking_uri == "http://127.0.0.1:5000"
    assert config.experiment_name == "rag-prod"
    assert config.artifact_location == "/tmp/arts"
    assert config.run_mode == "trace"
    assert config.capture_content is False
    assert config.trace_timeout == 5.0
    assert config.max_queue_size == 100


def test_argument_wins_over_environment() -> None:
    config = Config.from_env(env={"MLFLOW_EXPERIMENT_NAME": "from-env"}, experiment_name="from-arg")
    assert config.experiment_name == "from-arg"


@pytest.mark.parametrize("value", ["SPAN_ONLY", "span_and_event", "true", "1"])
def test_capture_content_accepts_genai_values(value: str) -> None:
    assert Config.from_env(env={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value}).capture_content


def test_no_content_turns_capture_off() -> None:
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "NO_CONTENT"}
    assert Config.from_env(env=env).capture_content is False


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_MLFLOW_RUN_MODE": "hourly"}, "OTEL_MLFLOW_RUN_MODE"),
        ({"OTEL_MLFLOW_TRACE_TIMEOUT": "soon"}, "OTEL_MLFLOW_TRACE_TIMEOUT"),
        ({"OTEL_MLFLOW_TRACE_TIMEOUT": "-1"}, "OTEL_MLFLOW_TRACE_TIMEOUT"),
        ({"OTEL_MLFLOW_MAX_QUEUE_SIZE": "1.5"}, "OTEL_MLFLOW_MAX_QUEUE_SIZE"),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "maybe"}, "CAPTURE_MESSAGE_CONTENT"),
        ({"OTEL_MLFLOW_LOG_SPANS": "sometimes"}, "OTEL_MLFLOW_LOG_SPANS"),
        # a number that is not finite would stop the writer (Condition.wait(inf) raises): refused up front
        ({"OTEL_MLFLOW_FLUSH_INTERVAL": "inf"}, "OTEL_MLFLOW_FLUSH_INTERVAL"),
        ({"OTEL_MLFLOW_FLUSH_INTERVAL": "nan"}, "OTEL_MLFLOW_FLUSH_INTERVAL"),
        ({"OTEL_MLFLOW_RETRY_TIMEOUT": "inf"}, "OTEL_MLFLOW_RETRY_TIMEOUT"),
        ({"OTEL_MLFLOW_TRACE_TIMEOUT": "1e999"}, "OTEL_MLFLOW_TRACE_TIMEOUT"),
        ({"OTEL_MLFLOW_WINDOW_SECONDS": "0"}, "OTEL_MLFLOW_WINDOW_SECONDS"),
        ({"OTEL_MLFLOW_EXIT_TIMEOUT": "-5"}, "OTEL_MLFLOW_EXIT_TIMEOUT"),
        ({"OTEL_MLFLOW_EXIT_TIMEOUT": "inf"}, "OTEL_MLFLOW_EXIT_TIMEOUT"),
        ({"OTEL_MLFLOW_SPOOL_MAX_BYTES": "0"}, "OTEL_MLFLOW_SPOOL_MAX_BYTES"),
        ({"OTEL_MLFLOW_SPOOL": "sometimes"}, "OTEL_MLFLOW_SPOOL"),
        ({"OTEL_MLFLOW_WRITERS": "0"}, "OTEL_MLFLOW_WRITERS"),
        ({"OTEL_MLFLOW_WRITERS": "1000"}, "OTEL_MLFLOW_WRITERS"),
    ],
)
def test_bad_value_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Config.from_env(env=env)


def test_unknown_argument_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="experiment"):
        Config.from_env(env={}, experimnt_name="typo")


def test_config_is_frozen() -> None:
    config = Config.from_env(env={})
    with pytest.raises(AttributeError):
        config.experiment_name = "x"  # type: ignore[misc]


def test_every_range_checked_setting_refuses_infinity_as_an_argument_too() -> None:
    for name in ("trace_timeout", "flush_interval", "retry_timeout", "window_seconds", "exit_timeout"):
        with pytest.raises(ConfigError, match="finite"):
            Config.from_env(env={}, **{name: float("inf")})


def test_writers_default_to_four_for_a_server_and_one_for_sqlite() -> None:
    assert Config.from_env(env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}).writer_count == 4
    assert Config.from_env(env={"MLFLOW_TRACKING_URI": "sqlite:///x.db"}).writer_count == 1
    assert Config.from_env(env={}).writer_count == 1
    assert Config.from_env(env={"OTEL_MLFLOW_WRITERS": "2"}).writer_count == 2


def test_every_variable_is_in_the_one_settings_table() -> None:
    import otel_mlflow.config as config
    from otel_mlflow.config import names

    table = config.__doc__ or ""
    variables = {v for k, v in vars(names).items() if k.startswith("ENV_")}
    assert len(variables) > 30
    missing = {v for v in variables if v not in table and "..._" + v.rsplit("_", 1)[-1] not in table}
    assert not missing, f"add to the table in otel_mlflow/config/__init__.py: {sorted(missing)}"


def test_receiver_settings_refuse_a_bad_port_or_bound_by_name() -> None:
    from otel_mlflow.config import ReceiverSettings

    with pytest.raises(ConfigError, match="OTEL_MLFLOW_RECEIVER_PORT=70000"):
        ReceiverSettings.from_env({}, port=70000)
    with pytest.raises(ConfigError, match="OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES=-1"):
        ReceiverSettings.from_env({"OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES": "-1"})
    with pytest.raises(ConfigError, match="OTEL_MLFLOW_RECEIVER_MAX_SPANS='many' is not a whole number"):
        ReceiverSettings.from_env({"OTEL_MLFLOW_RECEIVER_MAX_SPANS": "many"})
    assert ReceiverSettings.from_env({"OTEL_MLFLOW_RECEIVER_PORT": "4400"}, port=None).port == 4400
    assert ReceiverSettings.from_env({"OTEL_MLFLOW_RECEIVER_PORT": "4400"}, port=4500).port == 4500  # the flag wins
    for variable, value in (("OTEL_MLFLOW_RECEIVER_READ_TIMEOUT", "0"), ("OTEL_MLFLOW_RECEIVER_READ_TIMEOUT", "nan"),
                            ("OTEL_MLFLOW_RECEIVER_READ_TIMEOUT", "inf"),
                            ("OTEL_MLFLOW_RECEIVER_MAX_CONNECTIONS", "0")):  # fmt: skip
        with pytest.raises(ConfigError, match=f"{variable}={value}.*greater than 0"):
            ReceiverSettings.from_env({variable: value})
    settings = ReceiverSettings.from_env({"OTEL_MLFLOW_RECEIVER_READ_TIMEOUT": "2.5"}, max_connections=10)
    assert (settings.read_timeout, settings.max_connections) == (2.5, 10)


def test_one_artifact_location_rule() -> None:
    from pathlib import Path

    def root(**given: str) -> str | None:
        return Config.from_env(env={}, **given).artifact_root

    assert root(tracking_uri="sqlite:////data/stores/mlflow.db") == "/data/stores/mlartifacts"
    assert root() == str(Path("mlartifacts").resolve())  # MLflow's default ./mlflow.db
    assert root(tracking_uri="postgresql://u@db/mlflow") == str(Path("mlartifacts").resolve())
    assert root(tracking_uri="http://127.0.0.1:5000") is None  # the server decides
    assert root(tracking_uri="sqlite:////x/m.db", artifact_location="s3://bucket/a") == "s3://bucket/a"
