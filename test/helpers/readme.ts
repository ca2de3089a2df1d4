/**
 * The README's `curl` examples, parsed once for the tests that check them: `test/readme.test.ts`
 * runs each against a live Verdict, `test/openapi.test.ts` checks each request body and answer
 * against `GET /openapi.json`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./app.js";

/** One `sh` block that runs curl, with the status it documents and the JSON block after it, if any. */
export interface ReadmeExample {
  /** 1-based line of the block's opening fence in README.md. */
  line: number;
  script: string;
  status: number;
  documented?: unknown;
}

/** The README's curl examples, in order, with their documented status and answer. */
export function readmeExamples(): ReadmeExample[] {
  const text = readFileSync(join(ROOT, "README.md"), "utf8");
  const blocks = [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1]!,
    body: m[2]!,
    line: text.slice(0, m.index).split("\n").length,
  }));
  const out: ReadmeExample[] = [];
  blocks.forEach((b, i) => {
    if (b.lang !== "sh" || !/\bcurl\b/.test(b.body)) return;
    const status = /^# HTTP (\d{3})$/m.exec(b.body);
    if (!status) throw new Error(`README.md:${b.line}: a curl block must say the status it documents ("# HTTP 200")`);
    const next = blocks[i + 1];
    let documented: unknown;
    if (next?.lang === "json") {
      try {
        documented = JSON.parse(next.body);
      } catch (e) {
        throw new Error(`README.md:${next.line}: the documented answer is not JSON: ${(e as Error).message}`);
      }
    }
    out.push({ line: b.line, script: b.body, status: Number(status[1]), documented });
  });
  return out;
}
