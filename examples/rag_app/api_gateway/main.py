"""The RAG API: ``POST /ask`` with ``{"question": str, "k": int}`` -> ``{"question", "answer"}``; ``GET /health``.

Run from ``examples/rag_app``, traced into MLflow with no code change::

    OTEL_TRACES_EXPORTER=mlflow opentelemetry-instrument uvicorn api_gateway.main:app
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from services.llm_service import generate_answer
from services.retrieval import retrieve

app = FastAPI(title="RAG API")


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=10_000)
    k: int = Field(default=2, ge=0, le=10)


class AskResponse(BaseModel):
    question: str
    answer: str


@app.post("/ask", response_model=AskResponse)
def ask(request: AskRequest) -> AskResponse:
    context = "\n\n".join(retrieve(request.question, request.k))
    try:
        result = generate_answer(request.question, context)
    except RuntimeError as exc:
        raise HTTPException(status_code=502, detail=f"LLM service failed: {exc}") from exc
    return AskResponse(question=request.question, answer=result["answer"])


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
