/**
 * OpenTelemetry traces of decisions (DESIGN.md "Observability", docs/tracing.md): one
 * `verdict.decide` span per decision, a child of the caller's W3C trace context (`traceparent`,
 * `tracestate`), exported over OTLP/HTTP (JSON) when an endpoint is configured.
 *
 * Off (no endpoint) costs nothing: no provider is created or registered, the app gets no tracer
 * and builds no span; it only reads the trace id of a `traceparent` the caller sent, for the
 * decision record. On, spans go through a BatchSpanProcessor: its queue is bounded and drops
 * spans when the receiver cannot keep up, and exports run off the request path, so a receiver
 * that is down or slow neither fails nor slows a decision.
 *
 * The provider is Verdict's own, never registered as the global one: several servers can run in
 * one process (tests, an embedding application) without sharing or replacing each other's.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";

/** The span name of a decision. */
export const DECIDE_SPAN = "verdict.decide";
/** How long closing the server waits for the last spans to be exported, in ms. */
export const SHUTDOWN_TIMEOUT_MS = 5_000;

/** A running trace pipeline: the tracer the app uses, and its shutdown. */
export interface Tracing {
  tracer: Tracer;
  /** Exports what is queued (at most {@link SHUTDOWN_TIMEOUT_MS}) and stops; never rejects. Idempotent. */
  shutdown(): Promise<void>;
}

/** Options of {@link startTracing}. */
export interface TracingOptions {
  /** The full OTLP/HTTP traces URL, e.g. `http://collector:4318/v1/traces`. */
  url: string;
  /** `service.version` of the resource (Verdict's version), when known. */
  serviceVersion?: string;
}

/**
 * Creates Verdict's tracer provider: resource `service.name` "verdict", a BatchSpanProcessor over
 * the OTLP/HTTP JSON exporter. Standard OTel variables the exporter and processor read themselves
 * (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_*`) apply.
 */
export function startTracing(options: TracingOptions): Tracing {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": "verdict", ...(options.serviceVersion ? { "service.version": options.serviceVersion } : {}) }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: options.url }) })],
  });
  let stopping: Promise<void> | undefined;
  return {
    tracer: provider.getTracer("verdict", options.serviceVersion),
    shutdown: () =>
      (stopping ??= new Promise<void>((resolve) => {
        // A receiver that is down makes the exporter retry; closing does not wait for it forever.
        const timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS);
        timer.unref();
        provider
          .shutdown()
          .catch(() => undefined)
          .finally(() => {
            clearTimeout(timer);
            resolve();
          });
      })),
  };
}

const w3c = new W3CTraceContextPropagator();
const getter = {
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
  get: (carrier: Record<string, string>, key: string) => carrier[key],
};

/**
 * The caller's trace context from its `traceparent` and `tracestate` header values (W3C Trace
 * Context, parsed by OpenTelemetry's propagator): undefined when there is no valid
 * `traceparent` (a malformed one is ignored, as the spec asks: the decision starts a new trace).
 */
export function callerContext(traceparent: string | undefined, tracestate: string | undefined): Context | undefined {
  if (!traceparent) return undefined;
  const carrier: Record<string, string> = { traceparent };
  if (tracestate) carrier.tracestate = tracestate;
  const ctx = w3c.extract(ROOT_CONTEXT, carrier, getter);
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

/** The trace id of a context from {@link callerContext}; undefined for none. */
export function traceIdOf(ctx: Context | undefined): string | undefined {
  return ctx ? trace.getSpanContext(ctx)?.traceId : undefined;
}

/** What a `verdict.decide` span says at its start: the question, never its arguments. */
export interface DecideStart {
  kind: "tools/call" | "tools/list" | "authorize";
  agent: string;
  server: string;
  /** The tool (`tools/call`); absent for a list or a Cedar `authorize`. */
  tool?: string;
}

/**
 * Starts a `verdict.decide` span (kind SERVER: Verdict's entry into the caller's trace).
 * Attributes: `mcp.method.name` (MCP calls and lists), `gen_ai.tool.name` (calls), `verdict.kind`,
 * `verdict.agent`, `verdict.server`. Arguments, users and tokens are never put on a span.
 * @param parent the caller's context ({@link callerContext}); undefined: a new trace
 * @param start the instant the request was received (the decision record's `time`)
 */
export function startDecideSpan(tracer: Tracer, parent: Context | undefined, q: DecideStart, start: Date): Span {
  const attributes: Attributes = { "verdict.kind": q.kind, "verdict.agent": q.agent, "verdict.server": q.server };
  if (q.kind !== "authorize") attributes["mcp.method.name"] = q.kind;
  if (q.kind === "tools/call" && q.tool !== undefined) attributes["gen_ai.tool.name"] = q.tool;
  return tracer.startSpan(DECIDE_SPAN, { kind: SpanKind.SERVER, attributes, startTime: start }, parent ?? ROOT_CONTEXT);
}

/** The outcome of a decision, for {@link endDecideSpan}. */
export type DecideOutcome =
  | { decision: "allow" | "deny"; decisionId: string; policySetVersion: string }
  | { listed: { visible: number; hidden: number }; policySetVersion: string }
  /** No answer: the decision was not recorded (or the request failed); a fixed description. */
  | { error: string };

/**
 * Ends a `verdict.decide` span with its outcome: `verdict.decision`, `verdict.decision_id`,
 * `verdict.policy_set_version`; for a list, `verdict.tools.visible`/`verdict.tools.hidden`; a
 * request without an answer gets status ERROR.
 */
export function endDecideSpan(span: Span, outcome: DecideOutcome): void {
  if ("error" in outcome) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error });
  } else if ("listed" in outcome) {
    span.setAttributes({
      "verdict.policy_set_version": outcome.policySetVersion,
      "verdict.tools.visible": outcome.listed.visible,
      "verdict.tools.hidden": outcome.listed.hidden,
    });
  } else {
    span.setAttributes({
      "verdict.decision": outcome.decision,
      "verdict.decision_id": outcome.decisionId,
      "verdict.policy_set_version": outcome.policySetVersion,
    });
  }
  span.end();
}
