"""Messages a span only refers to (the GenAI upload hook writes them to files or object storage and puts
``gen_ai.input.messages_ref`` on the span), read by the writer where the user allows it
(``OTEL_MLFLOW_MESSAGE_REFS``: path or URL prefixes), before the spans are mapped. A read ref becomes the message
attribute it stands for, so every convention reader and the content switch treat it like inline text; a ref not
allowed, missing or unreadable stays a link. Local paths are read directly, other URLs through fsspec (the
library the upload hook writes with) when it is installed. Never on a request thread::

    spans, read, unread = resolve_message_refs(spans, ("/var/genai",), max_chars=1_000_000)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from urllib.parse import urlparse

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.export import LOGGER_NAME
from otel_mlflow.mapping.log_events import span_with
from otel_mlflow.scrub import get_logger

_logger = get_logger(LOGGER_NAME)


def resolve_message_refs(
    spans: list[ReadableSpan], prefixes: Sequence[str], max_chars: int
) -> tuple[list[ReadableSpan], int, int]:
    """``spans`` with every allowed ref read into its message key; how many refs were read and left unread."""
    read = unread = 0
    out = []
    for span in spans:
        attrs = span.attributes or {}
        refs = {key: str(attrs[ref]) for ref, key in A.MESSAGE_REF_KEYS.items() if ref in attrs and key not in attrs}
        texts = {key: text for key, ref in refs.items() if (text := read_ref(ref, prefixes, max_chars)) is not None}
        read, unread = read + len(texts), unread + len(refs) - len(texts)
        out.append(span_with(span, attributes={**attrs, **texts}) if texts else span)
    return out, read, unread


def allowed(ref: str, prefixes: Sequence[str]) -> bool:
    """Under one of ``prefixes``: a local path by its real path (no ``..`` or link out), a URL by its text."""
    path = _local_path(ref)
    for prefix in prefixes:
        base = _local_path(prefix)
        if path is not None and base is not None:
            real, root = os.path.realpath(path), os.path.realpath(base)
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return True
        elif path is None and base is None and ref.startswith(prefix) and ".." not in urlparse(ref).path.split("/"):
            return True
    return False


def read_ref(ref: str, prefixes: Sequence[str], max_chars: int) -> str | None:
    """The messages at ``ref`` as JSON text (a ``jsonl`` file's lines as one array), or None."""
    if not prefixes or not allowed(ref, prefixes):
        return None
    try:
        path = _local_path(ref)
        if path is not None:
            with open(path, encoding="utf-8") as file:
                text = file.read(max_chars + 1)
        else:
            import fsspec

            with fsspec.open(ref, "r", encoding="utf-8") as file:
                text = file.read(max_chars + 1)
    except Exception:  # missing, unreadable, or no fsspec for the URL: the ref stays a link
        _logger.debug("otel-mlflow could not read message ref %s", ref, exc_info=True)
        return None
    return _as_array(text)


def _as_array(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:  # jsonl: one message a line (with an index the upload hook adds)
        try:
            return json.dumps([json.loads(line) for line in lines], ensure_ascii=False)
        except ValueError:
            return text
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return json.dumps(parsed, ensure_ascii=False)


def _local_path(ref: str) -> str | None:
    parsed = urlparse(ref)
    if parsed.scheme == "file":
        return parsed.path
    return ref if parsed.scheme == "" else None
