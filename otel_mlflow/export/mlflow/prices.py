"""The price source of :mod:`otel_mlflow.mapping.cost`: the user's prices first, then MLflow's bundled table.

Why MLflow's table: it is the price data MLflow itself uses for a trace's cost (``mlflow.utils.providers.
cost_per_token``, checked with MLflow 3.17.2: ``gpt-4o-mini`` 1,000 + 1,000 tokens -> (0.00015, 0.0006)), it ships
with a dependency we already have, and MLflow keeps it current; LiteLLM's table is the same data in a much larger
package. Where MLflow has no such function the bundled table is simply not used. The provider is never passed:
with one, MLflow first downloads its latest catalog from GitHub (egress from the writer, and seconds of retries
where there is no internet); without, it reads only the table bundled in the package.

``OTEL_MLFLOW_PRICES`` names a JSON file of USD per million tokens, which wins over the bundled table::

    {"my-finetune": {"input": 0.30, "output": 1.20}, "gpt-4o-mini": {"input": 0.10, "output": 0.40}}

Usage::

    prices = price_source(config.prices_file)     # None when prices are off (OTEL_MLFLOW_PRICES=off)
"""

from __future__ import annotations

import json
import math
import os
import stat
from typing import Any

from otel_mlflow.config import ENV_PRICES, ConfigError
from otel_mlflow.mapping.cost import PriceSource

PER_MILLION = 1_000_000


def price_source(prices_file: str | None) -> PriceSource | None:
    """The user's file (if any) over MLflow's table; None when ``prices_file`` is ``off``."""
    if prices_file == "off":
        return None
    own = _read_file(prices_file) if prices_file else {}
    bundled: list[Any] = []  # MLflow's table, imported on the first lookup (on the writer's thread, not here)

    def prices(
        model: str,
        provider: str | None,
        input_tokens: float,
        output_tokens: float,
        cache_read: float | None,
        cache_creation: float | None,
    ) -> tuple[float, float] | None:
        if model in own:
            rate = own[model]
            return input_tokens * rate["input"] / PER_MILLION, output_tokens * rate["output"] / PER_MILLION
        if not bundled:
            bundled.append(_mlflow_table())
        if bundled[0] is None:
            return None
        return bundled[0](
            model=model,
            prompt_tokens=int(input_tokens),
            completion_tokens=int(output_tokens),
            cache_read_input_tokens=int(cache_read) if cache_read else None,
            cache_creation_input_tokens=int(cache_creation) if cache_creation else None,
        )

    return prices


MAX_PRICES_FILE_BYTES = 1 << 20
"""A price table of thousands of models is a few hundred KB; past this, the file is refused (it is read on the
caller's thread, when the exporter is made)."""


def _read_file(path: str) -> dict[str, dict[str, float]]:
    """The user's prices: a regular file of at most 1 MiB holding a JSON object of models, each with finite,
    non-negative ``input`` and ``output`` numbers (a FIFO, a device, a huge or deeply nested file is refused)."""
    data = _load(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{ENV_PRICES}={path}: the file must hold a JSON object of models")
    out: dict[str, dict[str, float]] = {}
    for model, rate in data.items():
        if not (isinstance(rate, dict) and all(_price(rate.get(k)) for k in ("input", "output"))):
            raise ConfigError(
                f'{ENV_PRICES}={path}: {model!r} needs {{"input": <USD per 1M>, "output": <USD per 1M>}}, '
                "finite numbers of at least 0"
            )
        out[str(model)] = {"input": float(rate["input"]), "output": float(rate["output"])}
    return out


def _load(path: str) -> Any:
    def refuse(why: str) -> ConfigError:
        return ConfigError(
            f"{ENV_PRICES}={path}: {why}; give a JSON file such as "
            '{"my-model": {"input": 0.3, "output": 1.2}} (USD per million tokens)'
        )

    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # checked before opening: reading a FIFO would wait for ever
            raise refuse("it is not a regular file")
        if info.st_size > MAX_PRICES_FILE_BYTES:
            raise refuse(f"it holds {info.st_size:,} bytes, more than {MAX_PRICES_FILE_BYTES:,}")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_PRICES_FILE_BYTES + 1)
        if len(raw) > MAX_PRICES_FILE_BYTES:
            raise refuse(f"it holds more than {MAX_PRICES_FILE_BYTES:,} bytes")
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except ConfigError:
        raise
    except RecursionError:
        raise refuse("it is nested too deep") from None
    except (OSError, ValueError) as exc:
        raise refuse(f"cannot read it as JSON ({exc})") from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a price")


def _price(value: Any) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and value >= 0


def _mlflow_table() -> Any:
    try:
        from mlflow.utils.providers import cost_per_token
    except ImportError:  # an MLflow without the bundled table: the user's file alone
        return None
    return cost_per_token
