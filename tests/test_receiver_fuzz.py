"""Thousands of malformed, truncated, oversized and mis-typed OTLP bodies: every one gets a 4xx, the
receiver stays up and its memory stays bounded."""

from __future__ import annotations

import gzip
import random
import resource
from typing import Any

import httpx
import pytest

from otel_mlflow.config import ReceiverSettings
from otel_mlflow.serve.receiver import Receiver
from tests.helpers import SpanRecorder
from tests.otlp_bodies import json_body, protobuf_body
from tests.test_mapping import rag_trace

FUZZ_BODIES = 5000


def mutations(valid_pb: bytes, valid_json: bytes, rng: random.Random) -> list[tuple[bytes, dict[str, str]]]:
    pb, js = {"Content-Type": "application/x-protobuf"}, {"Content-Type": "application/json"}
    cases: list[tuple[bytes, dict[str, str]]] = []
    for _ in range(FUZZ_BODIES):
        kind = rng.randrange(9)
        if kind == 0:  # truncated protobuf
            cases.append((valid_pb[: rng.randrange(1, len(valid_pb))], pb))
        elif kind == 1:  # flipped bytes
            body = bytearray(valid_pb)
            for _ in range(rng.randrange(1, 8)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            cases.append((bytes(body), pb))
        elif kind == 2:  # random bytes
            cases.append((rng.randbytes(rng.randrange(1, 2000)), pb))
        elif kind == 3:  # truncated JSON
            cases.append((valid_json[: rng.randrange(1, len(valid_json))], js))
        elif kind == 4:  # mis-typed JSON
            cases.append(
                (
                    rng.choice(
                        [
                            b"[]",
                            b"1",
                            b'"x"',
                            b'{"resourceSpans": 5}',
                            b'{"resourceSpans": [1]}',
                            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 7}]}]}]}',
                        ]
                    ),
                    js,
                )
            )
        elif kind == 5:  # deeply nested JSON
            depth = rng.randrange(100, 5000)
            cases.append((b"[" * depth + b"]" * depth, js))
        elif kind == 6:  # wrong content type
            cases.append((valid_pb, {"Content-Type": rng.choice(["text/plain", "application/xml", "", "multipart/x"])}))
        elif kind == 7:  # corrupt gzip
            cases.append((gzip.compress(valid_pb)[: rng.randrange(5, 30)], {**pb, "Content-Encoding": "gzip"}))
        else:  # oversized
            cases.append((b"\x0a" * (70_000 + rng.randrange(1000)), pb))
    return cases


@pytest.mark.subprocess
@pytest.mark.slow
def test_fuzzed_bodies_all_get_4xx_and_the_receiver_stays_up(recorder: SpanRecorder, make_exporter: Any) -> None:
    rag_trace(recorder)
    spans = recorder.take()
    valid_pb, valid_json = protobuf_body(spans), json_body(spans)
    receiver = Receiver(ReceiverSettings(port=0, max_body_bytes=64_000), make_exporter()).start()
    rng = random.Random(1234)
    statuses: dict[int, int] = {}
    accepted = 0
    try:
        with httpx.Client(base_url=receiver.url, timeout=10) as client:
            rss_start = None
            for index, (body, headers) in enumerate(mutations(valid_pb, valid_json, rng)):
                if index == 200:
                    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                status = client.post("/v1/traces", content=body, headers=headers).status_code
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    accepted += 1  # a mutation that is still a valid request (e.g. a flipped string byte)
                else:
                    assert 400 <= status < 500, (status, body[:80])
            assert client.get("/health").json()["status"] == "ok"
            assert (
                client.post(
                    "/v1/traces", content=valid_pb, headers={"Content-Type": "application/x-protobuf"}
                ).status_code
                == 200
            )
            rss_end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        receiver.stop()
    assert sum(statuses.values()) == FUZZ_BODIES
    assert accepted < FUZZ_BODIES * 0.2, statuses
    assert rss_start is not None and rss_end - rss_start < 100 * 1024, (rss_start, rss_end)  # KiB: < 100 MB
    print(f"fuzzed {FUZZ_BODIES} bodies: {dict(sorted(statuses.items()))}")
