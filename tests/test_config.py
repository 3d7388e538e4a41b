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


def test_every_setting_is_one_row_and_the_docs_are_made_from_the_rows() -> None:
    """The README's table and the package docstring come from the rows; every OTEL_MLFLOW_* name the code spells
    is a row; each part's fields are exactly its rows."""
    import re
    from dataclasses import fields
    from pathlib import Path

    import otel_mlflow.config as config
    from otel_mlflow.config import ReceiverSettings, exporter, receiver
    from otel_mlflow.config.setting import readme_with_table
    from otel_mlflow.config.settings import SETTINGS

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert readme_with_table(readme, SETTINGS) == readme, "run: python -m otel_mlflow.config README.md"
    assert all(f"``{row.env}``" in (config.__doc__ or "") for row in SETTINGS)
    spelled = {
        name
        for path in (root / "otel_mlflow").rglob("*.py")
        for name in re.findall(r"\bOTEL_MLFLOW_[A-Z_]*[A-Z]\b", path.read_text(encoding="utf-8"))
    }
    assert len(SETTINGS) > 40 and spelled - {row.env for row in SETTINGS} == set()
    assert {row.field for row in exporter.ROWS} == {f.name for f in fields(config.Config)}
    assert {row.field for row in receiver.ROWS} == {f.name for f in fields(ReceiverSettings)}


def test_a_row_that_disagrees_with_the_readme_is_caught() -> None:
    from pathlib import Path

    from otel_mlflow.config.setting import readme_with_table
    from otel_mlflow.config.settings import ENV_SPOOL_DIR, SETTINGS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    edited = readme.replace(ENV_SPOOL_DIR.meaning, "somewhere")
    assert edited != readme and readme_with_table(edited, SETTINGS) != edited


def test_doctor_prints_every_setting_resolved_with_secrets_masked() -> None:
    from otel_mlflow.config.settings import SETTINGS
    from otel_mlflow.doctor import settings_lines

    env = {"MLFLOW_TRACKING_TOKEN": "tok-secret", "OTEL_MLFLOW_WINDOW_SECONDS": "15", "OTEL_MLFLOW_WRITERS": "x"}
    lines = list(settings_lines(env))
    assert len(lines) == len(SETTINGS)
    text = "\n".join(lines)
    assert "tok-secret" not in text and "*** (set)" in text
    assert any(line.split() == ["OTEL_MLFLOW_WINDOW_SECONDS", "15.0"] for line in lines)
    assert "OTEL_MLFLOW_WRITERS='x' is not a whole number" in text
    assert any(line.split()[:3] == ["OTEL_MLFLOW_RUN_MODE", "default:", "auto"] for line in lines)


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
    for variable, value in (
        ("OTEL_MLFLOW_RECEIVER_READ_TIMEOUT", "0"),
        ("OTEL_MLFLOW_RECEIVER_READ_TIMEOUT", "nan"),
        ("OTEL_MLFLOW_RECEIVER_READ_TIMEOUT", "inf"),
        ("OTEL_MLFLOW_RECEIVER_MAX_CONNECTIONS", "0"),
    ):
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


def test_bounds_past_what_the_engine_and_grpc_take_are_refused_by_name() -> None:
    """Issue 26, item 13: a flush interval of 1e10 s was accepted, then the writer loop raised OverflowError; a body
    bound of 2^40 was accepted with gRPC off and a traceback with it on (gRPC takes a C int)."""
    from otel_mlflow.config import ReceiverSettings

    with pytest.raises(ConfigError, match="OTEL_MLFLOW_FLUSH_INTERVAL=10000000000.0 must be .* at most a year"):
        Config.from_env(env={"OTEL_MLFLOW_FLUSH_INTERVAL": "1e10"})
    with pytest.raises(ConfigError, match="OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES=1099511627776 must be a whole number"):
        ReceiverSettings.from_env({"OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES": str(1 << 40)})
    assert ReceiverSettings.from_env({"OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES": str((1 << 31) - 1)}).max_body_bytes


def test_the_open_receiver_warning_passes_the_scrubber_whole() -> None:
    from otel_mlflow.cli import OPEN_RECEIVER_WARNING
    from otel_mlflow.scrub import default_scrubber

    text = OPEN_RECEIVER_WARNING % ("0.0.0.0", "OTEL_MLFLOW_RECEIVER_TOKEN")
    assert default_scrubber().text(text) == text
