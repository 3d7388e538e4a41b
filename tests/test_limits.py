from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from otel_mlflow.mapping.limits import (
    MAX_KEY_CHARS,
    chunk_batch,
    clean_text,
    finite_number,
    is_valid_key,
    sanitize_key,
)

MLFLOW_KEY = re.compile(r"^[/\w.\- :]*$")


def test_valid_keys_are_kept() -> None:
    for key in ["latency_ms", "gen_ai.usage.input_tokens", "a/b", "x-y z:1"]:
        assert sanitize_key(key) == key


def test_invalid_characters_become_underscores() -> None:
    assert sanitize_key("prompt (v2)?") == "prompt _v2__"
    assert sanitize_key("a//b") == "a/b"
    assert sanitize_key("/abs/path") == "abs/path"
    assert sanitize_key("../up") == "up"
    assert sanitize_key("") == "_"


def test_long_keys_are_cut_with_a_distinguishing_hash() -> None:
    a = sanitize_key("k" * 300 + "a")
    b = sanitize_key("k" * 300 + "b")
    assert len(a) <= MAX_KEY_CHARS and len(b) <= MAX_KEY_CHARS
    assert a != b


@given(st.text())
def test_any_text_sanitises_to_a_valid_stable_key(key: str) -> None:
    cleaned = sanitize_key(key)
    assert is_valid_key(cleaned)
    assert MLFLOW_KEY.match(cleaned)
    assert sanitize_key(cleaned) == cleaned


def test_mlflow_agrees_with_our_key_check() -> None:
    from mlflow.utils.validation import path_not_unique, validate_param_and_metric_name

    for key in ["ok.key", "bad?key", "a/../b", "/lead", "trail/", ".", "x" * 251, "é-unicode"]:
        mlflow_ok = bool(validate_param_and_metric_name(key)) and not path_not_unique(key) and len(key) <= 250
        assert is_valid_key(key) == mlflow_ok, key


def test_finite_number() -> None:
    assert finite_number(3) == 3.0
    assert finite_number(2.5) == 2.5
    assert finite_number(float("nan")) is None
    assert finite_number(float("inf")) is None
    assert finite_number(True) is None
    assert finite_number("3") is None


def test_clean_text_replaces_lone_surrogates() -> None:
    assert clean_text("ok") == "ok"
    assert clean_text("bad \ud800 text").encode("utf-8")


def test_chunking_respects_counts_and_size() -> None:
    metrics = [(f"m{i}", 1.0, 0, 0) for i in range(2500)]
    params = [(f"p{i}", "v") for i in range(250)]
    tags = [(f"t{i}", "x" * 7000) for i in range(150)]
    batches = list(chunk_batch(metrics, params, tags))
    assert sum(len(b.metrics) for b in batches) == 2500
    assert sum(len(b.params) for b in batches) == 250
    assert sum(len(b.tags) for b in batches) == 150
    for b in batches:
        assert len(b.metrics) <= 1000 and len(b.params) <= 100 and len(b.tags) <= 100
        assert len(b) <= 1000
        assert sum(len(v) for _, v in b.tags) < 900_000
