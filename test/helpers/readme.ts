/**
 * The `curl` examples of README.md and of every `docs/*.md`, parsed once for the tests that check
 * them: `test/e2e/readme.test.ts` runs each against a live Verdict, `test/http/openapi.test.ts`
 * checks each request body and answer against `GET /openapi.json`.
 *
 * A curl example is a fenced `sh` block (at the start of a line, or indented inside a list item)
 * that runs curl. It must say the status it documents on a line of its own, `# HTTP 200`,
 * optionally followed by the media type of a non-JSON answer (`# HTTP 200 text/plain`); the JSON
 * block right after it, when there is one, is the documented answer. A block that runs curl but
 * cannot be run this way (another fence language, no status line) is an error, never skipped.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./app.js";

/** One `sh` block that runs curl, with the status it documents and the JSON block after it, if any. */
export interface ReadmeExample {
  /** The file it is in, relative to the repository root (`README.md`, `docs/api.md`). */
  file: string;
  /** 1-based line of the block's opening fence in that file. */
  line: number;
  script: string;
  status: number;
  /** The media type the answer must have when it is not JSON (`text/plain`); undefined: JSON. */
  mediaType?: string;
  documented?: unknown;
}

/** The files the examples are read from: README.md, then every `docs/*.md` in name order. */
export function documentedFiles(): string[] {
  const docs = readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`);
  return ["README.md", ...docs];
}

interface Block {
  lang: string;
  body: string;
  line: number;
}

/** The fenced blocks of a Markdown text, in order; an indented block's body loses its indentation. */
function fencedBlocks(text: string): Block[] {
  return [...text.matchAll(/^( *)```(\w*)\n([\s\S]*?)^\1```$/gm)].map((m) => {
    const indent = m[1]!;
    const body = indent ? m[3]!.replace(new RegExp(`^${indent}`, "gm"), "") : m[3]!;
    return { lang: m[2]!, body, line: text.slice(0, m.index).split("\n").length };
  });
}

/** A line that runs curl: at its start, or after a space, `$(`, a pipe or `;`. */
const RUNS_CURL = /(^|[\s(|;&])curl\s/m;

/** The curl examples of one file, in order, with their documented status and answer. */
function fileExamples(file: string): ReadmeExample[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const blocks = fencedBlocks(text);
  const out: ReadmeExample[] = [];
  blocks.forEach((b, i) => {
    if (!RUNS_CURL.test(b.body)) return;
    if (b.lang !== "sh") throw new Error(`${file}:${b.line}: a block that runs curl must be a \`sh\` block (it is \`${b.lang || "untagged"}\`)`);
    const status = /^# HTTP (\d{3})(?: ([\w.+-]+\/[\w.+-]+))?$/m.exec(b.body);
    if (!status) throw new Error(`${file}:${b.line}: a curl block must say the status it documents ("# HTTP 200")`);
    const next = blocks[i + 1];
    let documented: unknown;
    if (next?.lang === "json") {
      try {
        documented = JSON.parse(next.body);
      } catch (e) {
        throw new Error(`${file}:${next.line}: the documented answer is not JSON: ${(e as Error).message}`);
      }
    }
    out.push({ file, line: b.line, script: b.body, status: Number(status[1]), mediaType: status[2], documented });
  });
  return out;
}

/** Every curl example of README.md and `docs/*.md`, file by file, in order. */
export function readmeExamples(): ReadmeExample[] {
  return documentedFiles().flatMap(fileExamples);
}
