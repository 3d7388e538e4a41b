"""The documents a retrieval span returned, whatever convention it follows (ours, GenAI, OpenInference). Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions.text import indexed_text
from otel_mlflow.mapping.values import as_text, join_text, json_value


def context_text(attrs: Mapping[str, Any]) -> str | None:
    own = attrs.get(A.CONTEXT)
    if own is not None:
        return join_text(own)
    docs = attrs.get(A.GEN_AI_RETRIEVAL_DOCUMENTS)
    if docs is not None:
        parsed = json_value(docs)
        if isinstance(parsed, list):
            return "\n\n".join(_doc_text(d) for d in parsed) or None
        return as_text(docs)
    return indexed_text(attrs, A.OI_RETRIEVAL_DOCUMENTS_PREFIX, A.OI_DOCUMENT_CONTENT_SUFFIX, None)


def context_documents(attrs: Mapping[str, Any]) -> list[str]:
    """The retrieved documents one by one (ours: a list, or one text; GenAI: a JSON array; OpenInference: the
    flattened ``retrieval.documents.{i}.document.content``), in order."""
    own = attrs.get(A.CONTEXT)
    if own is not None:
        return [str(d) for d in own] if isinstance(own, (list, tuple)) else [str(own)]
    docs = attrs.get(A.GEN_AI_RETRIEVAL_DOCUMENTS)
    if docs is not None:
        parsed = json_value(docs)
        return [_doc_text(d) for d in parsed] if isinstance(parsed, list) else [str(docs)]
    found = {}
    for key, value in attrs.items():
        if key.startswith(A.OI_RETRIEVAL_DOCUMENTS_PREFIX) and key.endswith(A.OI_DOCUMENT_CONTENT_SUFFIX):
            index = key[len(A.OI_RETRIEVAL_DOCUMENTS_PREFIX) : -len(A.OI_DOCUMENT_CONTENT_SUFFIX)]
            if index.isdigit():
                found[int(index)] = str(value)
    return [found[i] for i in sorted(found)]


def _doc_text(doc: Any) -> str:
    if isinstance(doc, dict):
        return str(doc.get("content", doc.get("text", json.dumps(doc, ensure_ascii=False))))
    return str(doc)
