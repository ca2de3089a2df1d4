// The benchmark's engine stub (`npm run bench -- --engine-stub`, see ./verdict-process.ts):
// preloaded into the benchmark's own server process only, it makes the prepared engine answer
// every request with one constant allow without calling Cedar, so the benchmark measures the
// path around the engine. The engine module to patch is named by VERDICT_BENCH_ENGINE_MODULE
// (the compiled or the TypeScript one, whichever the process runs).
const url = process.env.VERDICT_BENCH_ENGINE_MODULE;
if (!url) throw new Error("stub-engine.mjs: VERDICT_BENCH_ENGINE_MODULE is not set");
const { PreparedEngine } = await import(url);
const answer = Object.freeze({ decision: "allow", reasons: Object.freeze(["bench-engine-stub"]), errors: Object.freeze([]) });
PreparedEngine.prototype.authorize = function authorize() {
  return { decision: answer.decision, reasons: [...answer.reasons], errors: [] };
};
process.stderr.write("bench: the prepared engine is stubbed (constant allow, no Cedar call)\n");
