// One generateText call of the Vercel AI SDK (telemetry on) against OPENAI_BASE_URL, its spans sent as OTLP/HTTP
// (protobuf) to OTEL_EXPORTER_OTLP_ENDPOINT: otel-mlflow receive in tests/test_interop_matrix.py.
import { NodeTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { generateText } from "ai";
import { createOpenAI } from "@ai-sdk/openai";

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": "interop-vercel-ai" }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
});
provider.register();
const openai = createOpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: "sk-interop-test" });
const result = await generateText({
  model: openai.chat("gpt-4o-mini"),
  system: "SYSTEM-PLANTED-TEXT answer in one sentence, citing the documents you were given.",
  prompt: "QUESTION-PLANTED-TEXT what does retrieval augmented generation add to an answer?",
  temperature: 0.2,
  experimental_telemetry: { isEnabled: true },
});
console.log(result.text);
await provider.shutdown();
