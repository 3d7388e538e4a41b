"""Model registry helpers: register a model, find the one serving, promote a version.

Usage::

    from otel_mlflow import register_model, get_latest_model, transition_model_to_stage

    version = register_model("runs:/<run_id>/model", "rag-model", description="k=5, gpt-4")
    transition_model_to_stage("rag-model", version.version, "Production")   # alias "production"
    serving = get_latest_model("rag-model", stage="Production")            # models:/rag-model@production

MLflow deprecated model stages in 2.9 in favour of aliases. These helpers keep the stage calls
working: a stage becomes the alias of the same name in lower case (``Production`` ->
``@production``), and the registry's own stage is moved too where the server still supports it.
``transition_model_to_stage`` warns once (DeprecationWarning) to suggest aliases.
A missing model or version raises :class:`ModelNotFoundError` naming it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

STAGES = ("None", "Staging", "Production", "Archived")
_warned = False


class ModelNotFoundError(LookupError):
    """The registered model, version, alias or stage does not exist."""


def register_model(
    model_uri: str, name: str, description: str | None = None, tags: Mapping[str, Any] | None = None
) -> Any:
    """Register ``model_uri`` (``runs:/<run_id>/model``, ``models:/...``) as a new version of ``name``."""
    import mlflow

    client = _client()  # fails fast when the server is down
    version = mlflow.register_model(model_uri, name, tags=dict(tags) if tags else None)
    if description:
        version = client.update_model_version(name, version.version, description=description)
    return version


def get_latest_model(name: str, stage: str | None = None, alias: str | None = None) -> Any:
    """The model version to use: by ``alias``, by ``stage`` (its alias first), or the newest version."""
    client = _client()
    _require_model(client, name)
    if alias:
        return _by_alias(client, name, alias)
    if stage:
        stage = _stage_name(stage)
        try:
            return _by_alias(client, name, stage.lower())
        except ModelNotFoundError:
            pass
        found = [v for v in _versions(client, name) if v.current_stage == stage]
        if not found:
            raise ModelNotFoundError(f"model {name!r} has no version in stage {stage!r} (nor alias @{stage.lower()})")
        return max(found, key=lambda v: int(v.version))
    versions = _versions(client, name)
    if not versions:
        raise ModelNotFoundError(f"model {name!r} has no versions")
    return max(versions, key=lambda v: int(v.version))


def transition_model_to_stage(name: str, version: str | int, stage: str, archive_existing: bool = False) -> Any:
    """Move ``version`` of ``name`` to ``stage``: sets alias ``@<stage in lower case>`` (and the
    deprecated registry stage where supported). Returns the model version."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            "model stages are deprecated in MLflow since 2.9; otel-mlflow sets the alias "
            f"'@{stage.lower()}' as well. Prefer aliases: models:/{name}@{stage.lower()}",
            DeprecationWarning,
            stacklevel=2,
        )
    client = _client()
    stage = _stage_name(stage)
    _require_version(client, name, str(version))
    if stage not in ("None", "Archived"):
        client.set_registered_model_alias(name, stage.lower(), str(version))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own deprecation of stages: we warned already
        try:
            return client.transition_model_version_stage(name, str(version), stage, archive_existing)
        except Exception:  # noqa: BLE001 - servers without stages: the alias is the transition
            return client.get_model_version(name, str(version))


def _by_alias(client: Any, name: str, alias: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise ModelNotFoundError(f"model {name!r} has no alias @{alias}") from exc


def _versions(client: Any, name: str) -> list[Any]:
    return list(client.search_model_versions(f"name = '{_quote(name)}'"))


def _require_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        raise ModelNotFoundError(f"no registered model named {name!r}; register it with register_model()") from exc


def _require_version(client: Any, name: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    _require_model(client, name)
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise ModelNotFoundError(f"model {name!r} has no version {version}") from exc


def _stage_name(stage: str) -> str:
    for known in STAGES:
        if stage.lower() == known.lower():
            return known
    raise ValueError(f"stage {stage!r} is not one of {', '.join(STAGES)}")


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _client() -> Any:
    """A client for the helper API's store; an MLflow server that does not answer fails within seconds."""
    from otel_mlflow.export.mlflow.server import make_client, require_reachable
    from otel_mlflow.wiring import pipeline

    uri = pipeline().config.tracking_uri
    require_reachable(uri)
    return make_client(uri)
