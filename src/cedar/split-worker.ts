/**
 * cedar-wasm's `policySetTextToParts` in a short-lived worker thread, for large policy files.
 * Why: parsing a file of 10,000 policies (2 MiB) grows the engine's wasm memory by about
 * 113 MiB, and wasm memory never shrinks, so the serving process would keep that peak for its
 * lifetime (measured by `npm run bench:engine`). The worker's wasm instance, and its memory, go
 * with the worker; the serving process then only holds the preparsed policies.
 */
import { createRequire } from "node:module";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import { CEDAR_WASM_MODULE, type cedar } from "./wasm.js";

/**
 * Policy files of at least this many characters (256 Ki, about 1,300 policies) are split in a
 * short-lived worker thread (see {@link policySetTextToPartsInWorker}).
 */
export const SPLIT_IN_WORKER_CHARS = 256 * 1024;
/** How long a load waits for the split worker before it fails, in ms. */
const SPLIT_WORKER_TIMEOUT_MS = 120_000;

/**
 * The split worker, as an eval'd CommonJS script so that it runs the same under tsx, vitest and
 * compiled JavaScript (a worker file would need each one's loader). It loads its own instance of
 * cedar-wasm's Node build, splits, posts the answer and wakes the waiting thread.
 */
const SPLIT_WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { cedarPath, text, port, signal } = workerData;
let answer;
try {
  answer = require(cedarPath).policySetTextToParts(text);
} catch (e) {
  answer = { type: "failure", errors: [{ message: "the policy split worker failed: " + String(e) }] };
}
port.postMessage(answer);
Atomics.store(signal, 0, 1);
Atomics.notify(signal, 0);
`;

/**
 * cedar-wasm's `policySetTextToParts`, run in a worker thread that is then ended. Synchronous
 * like the rest of the load: the calling thread blocks (`Atomics.wait`) until the worker answers.
 * @returns the same answer as `policySetTextToParts`; a failure when the worker fails or does
 *   not answer within 120 s
 */
export function policySetTextToPartsInWorker(text: string): cedar.PolicySetTextToPartsAnswer {
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const cedarPath = createRequire(import.meta.url).resolve(CEDAR_WASM_MODULE);
  const worker = new Worker(SPLIT_WORKER_SOURCE, { eval: true, workerData: { cedarPath, text, port: port2, signal }, transferList: [port2] });
  try {
    Atomics.wait(signal, 0, 0, SPLIT_WORKER_TIMEOUT_MS);
    const received = receiveMessageOnPort(port1);
    if (!received) {
      const message = `the policy split worker did not answer within ${SPLIT_WORKER_TIMEOUT_MS / 1000} s`;
      return { type: "failure", errors: [{ message, help: null, code: null, url: null, severity: null }] };
    }
    return received.message as cedar.PolicySetTextToPartsAnswer;
  } finally {
    port1.close();
    void worker.terminate();
  }
}
