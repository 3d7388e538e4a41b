"""Retrieval over the bundled corpus: word-overlap scoring, no network, no model download.

``DEMO_SEARCH_MS_PER_DOC`` (default 0) makes each retrieved document cost that many milliseconds, as a vector store's
fetch would: `make demo` sets it, so configurations with a larger ``k`` are slower, as they are in production.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from functools import lru_cache
from pathlib import Path

CORPUS = Path(__file__).with_name("corpus.json")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"a", "an", "the", "is", "are", "what", "how", "of", "to", "and", "in", "do", "does", "for", "with", "as"}


@lru_cache(maxsize=1)
def documents() -> list[dict[str, str]]:
    return list(json.loads(CORPUS.read_text(encoding="utf-8")))


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def retrieve(question: str, k: int = 2) -> list[str]:
    """The ``k`` corpus texts sharing the most words with ``question`` (ties keep corpus order)."""
    wanted = _words(question)
    scored = sorted(documents(), key=lambda d: -len(wanted & _words(d["text"])))
    found = [d["text"] for d in scored[: max(0, k)]]
    per_doc_ms = float(os.environ.get("DEMO_SEARCH_MS_PER_DOC") or 0)
    if per_doc_ms > 0:
        time.sleep(per_doc_ms * len(found) * random.uniform(0.7, 1.3) / 1000)
    return found
