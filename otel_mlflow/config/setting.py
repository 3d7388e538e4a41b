"""The shape of one setting (:class:`Setting`), the checks a row may name, and the tables made from rows.

The rows themselves are in :mod:`otel_mlflow.config.settings`. Usage::

    ENV_WINDOW_SECONDS = Setting("OTEL_MLFLOW_WINDOW_SECONDS", field="window_seconds", parse=parse.seconds,
                                 default=60.0, check=positive, meaning="how long a window run gathers requests")
    ENV_WINDOW_SECONDS.read(given, os.environ)     # the parsed value, or None (the default applies)
    ENV_WINDOW_SECONDS.checked(value)              # ConfigError naming the variable when the check fails

``python -m otel_mlflow.config README.md`` writes the README's table (between its two markers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_mlflow.config import parse
from otel_mlflow.config.errors import ConfigError
from otel_mlflow.config.parse import text as parse_text

EXPORTER, RECEIVER, INSTRUMENTORS, SCRUB, MLFLOW_CLIENT = (
    "exporter",
    "receiver",
    "instrumentors",
    "scrubber",
    "MLflow client",
)
"""Who reads a setting: the exporter (in the app or behind ``otel-mlflow receive``), the receiver's server, the
instrumentors, the scrubber (every way out), the MLflow client (ours and MLflow's own)."""

Check = Callable[[Any], "str | None"]
"""A range check: None when the value is fine, else what is wrong with it ("must be ...")."""


class Setting(str):
    """One setting; its ``str`` value is the environment variable's name."""

    field: str
    parse: Callable[[str, str], Any]
    default: Any
    default_doc: str
    meaning: str
    readers: tuple[str, ...]
    check: Check | None
    secret: bool

    def __new__(
        cls,
        env: str,
        *,
        field: str,
        parse: Callable[[str, str], Any] = parse_text,
        default: Any = None,
        default_doc: str | None = None,
        meaning: str,
        readers: tuple[str, ...] = (EXPORTER,),
        check: Check | None = None,
        secret: bool = False,
    ) -> Setting:
        row = super().__new__(cls, env)
        row.field, row.parse, row.default, row.meaning, row.readers = field, parse, default, meaning, readers
        row.default_doc = (
            default_doc if default_doc is not None else ("unset" if default in (None, ()) else f"`{_shown(default)}`")
        )
        row.check, row.secret = check, secret
        return row

    @property
    def env(self) -> str:
        return str(self)

    def read(self, given: Mapping[str, Any], source: Mapping[str, str]) -> Any:
        """``given[field]`` (an argument or flag; None: not given), else the variable parsed, else None."""
        return parse.pick(given, source, self.field, self.env, self.parse)

    def checked(self, value: Any) -> None:
        """Raise :class:`~otel_mlflow.config.ConfigError` naming the variable when ``value`` fails the check."""
        problem = self.check(value) if self.check is not None and value is not None else None
        if problem:
            raise ConfigError(f"{self.env}={value!r} {problem}")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def positive(value: Any) -> str | None:
    """A finite number greater than 0 (``inf`` would stop the writer; ``nan`` compares false)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return None if number and math.isfinite(value) and value > 0 else "must be a finite number greater than 0"


MAX_SECONDS = 31_536_000
"""The longest duration a setting takes: a year (a wait past ``threading.TIMEOUT_MAX`` would stop the writer)."""


def duration(value: Any) -> str | None:
    """A finite number of seconds greater than 0, at most :data:`MAX_SECONDS`."""
    if positive(value) is None and value <= MAX_SECONDS:
        return None
    return f"must be a finite number of seconds greater than 0 and at most a year ({MAX_SECONDS})"


def port(value: Any) -> str | None:
    ok = isinstance(value, int) and 0 <= value <= 65535
    return None if ok else "is not a port; use 1 to 65535 (0: any free port for HTTP, no OTLP/gRPC for gRPC)"


def one_of(noun: str, *choices: str) -> Check:
    return lambda value: None if value in choices else f"is not a {noun}; use one of {', '.join(choices)}"


def not_blank(value: Any) -> str | None:
    return None if str(value).strip() else "is empty; give a value"


def whole_between(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return None if ok else f"must be a whole number from {low} to {high}"

    return check


def markdown_table(rows: Sequence[Setting]) -> str:
    """The README's table of ``rows``."""
    lines = ["| Environment variable | Keyword | Default | Read by | Meaning |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| `{row.env}` | `{row.field}` | {row.default_doc} | {', '.join(row.readers)} | {row.meaning} |")
    return "\n".join(lines)


def text_table(rows: Sequence[Setting]) -> str:
    """The same as a plain list, for :mod:`otel_mlflow.config`'s docstring."""
    return "\n".join(
        f"- ``{row.env}`` (``{row.field}``; default {row.default_doc.replace('`', '')}): {row.meaning.replace('`', '')}"
        for row in rows
    )


README_BEGIN = "<!-- settings table: made by `python -m otel_mlflow.config README.md` -->"
README_END = "<!-- end of settings table -->"


def readme_with_table(text: str, rows: Sequence[Setting]) -> str:
    """``text`` (the README) with the block between :data:`README_BEGIN` and :data:`README_END` made anew."""
    start, end = text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)
    return text[:start] + "\n" + markdown_table(rows) + "\n" + text[end:]
