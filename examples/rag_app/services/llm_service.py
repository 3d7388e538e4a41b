"""The LLM service: ``generate_answer(question, context, use_demo=False)``.

With ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` set (and ``use_demo`` false) it calls an
OpenAI-compatible chat-completions API with the ``openai`` client (``pip install openai``); otherwise
it answers with a deterministic offline demo model that reports token usage like OpenAI does.
"""

from __future__ import annotations

import os
import re
from typing import Any

DEMO_MODEL = "demo-llm"
MODEL = os.environ.get("LLM_MODEL", "gpt-4o-mini")
SYSTEM_PROMPT = "Answer the question using only the context. Be brief."


def generate_answer(question: str, context: str, use_demo: bool = False) -> dict[str, Any]:
    """Answer ``question`` from ``context``; returns ``{"answer", "model", "usage"}``."""
    if not use_demo and (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")):
        return _openai_answer(question, context)
    return _demo_answer(question, context)


def _demo_answer(question: str, context: str) -> dict[str, Any]:
    if "fail" in question.lower().split():
        raise RuntimeError("demo model failure (the question asked for one)")
    first = re.split(r"(?<=[.!?])\s", context.strip(), maxsplit=1)[0] if context.strip() else ""
    answer = first or "I don't know from the given context."
    prompt = f"{SYSTEM_PROMPT}\n{context}\n{question}"
    return {
        "answer": answer,
        "model": DEMO_MODEL,
        "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(answer.split())},
    }


def _openai_answer(question: str, context: str) -> dict[str, Any]:
    try:
        from openai import OpenAI
    except ImportError as exc:  # pragma: no cover - depends on the user's environment
        raise RuntimeError(
            "OPENAI_API_KEY/OPENAI_BASE_URL is set but the openai package is not: pip install openai"
        ) from exc
    client = OpenAI()
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"},
        ],
    )
    usage = completion.usage
    return {
        "answer": completion.choices[0].message.content or "",
        "model": completion.model,
        "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
        if usage
        else None,
    }
