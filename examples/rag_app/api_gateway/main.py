"""The RAG API: ``POST /ask`` with ``{"question": str, "k": int}`` -> ``{"question", "answer"}`` and the request's
trace id in the ``x-trace-id`` header; ``POST /feedback`` with ``{"trace_id", "value", "comment"}`` (an MLflow
feedback assessment on that trace, counted in the window run); ``GET /health``.

Run from ``examples/rag_app``, traced into MLflow with no code change::

    OTEL_TRACES_EXPORTER=mlflow opentelemetry-instrument uvicorn api_gateway.main:app
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, Field
from services.llm_service import generate_answer
from services.retrieval import retrieve

from otel_mlflow import current_trace_id, log_feedback

app = FastAPI(title="RAG API")


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=10_000)
    k: int = Field(default=2, ge=0, le=10)


class AskResponse(BaseModel):
    question: str
    answer: str


class FeedbackRequest(BaseModel):
    trace_id: str = Field(description="the x-trace-id header of the /ask response")
    value: str | bool | float = Field(description="e.g. 'helpful', true (thumbs up) or a 1-5 rating")
    comment: str | None = Field(default=None, max_length=10_000)


@app.post("/ask", response_model=AskResponse)
def ask(request: AskRequest, response: Response) -> AskResponse:
    trace_id = current_trace_id()  # None when the app runs untraced
    headers = {"x-trace-id": trace_id} if trace_id else {}
    response.headers.update(headers)
    context = "\n\n".join(retrieve(request.question, request.k))
    try:
        result = generate_answer(request.question, context)
    except RuntimeError as exc:
        raise HTTPException(status_code=502, detail=f"LLM service failed: {exc}", headers=headers) from exc
    return AskResponse(question=request.question, answer=result["answer"])


@app.post("/feedback", status_code=202)
def feedback(request: FeedbackRequest) -> dict[str, str]:
    try:
        log_feedback(request.trace_id, request.value, comment=request.comment)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"status": "accepted"}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
