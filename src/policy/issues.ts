/**
 * Why a policy set does not load: each problem located as precisely as Cedar allows (file, line,
 * column, policy id), and the error that carries them all.
 */
import type { CedarIssue } from "../cedar/types.js";

/** A problem that keeps a policy set from loading, located as precisely as Cedar allows. */
export interface LoadIssue {
  file: string;
  line?: number;
  column?: number;
  policyId?: string;
  message: string;
  help?: string | null;
}

/** The policy set did not load; `issues` says every reason, with file, line and column. */
export class PolicySetError extends Error {
  constructor(readonly issues: LoadIssue[]) {
    super(
      `policy set is invalid:\n` +
        issues
          .map((i) => `  ${i.file}${i.line ? `:${i.line}:${i.column}` : ""}${i.policyId ? ` [${i.policyId}]` : ""}: ${i.message}${i.help ? ` (${i.help})` : ""}`)
          .join("\n"),
    );
    this.name = "PolicySetError";
  }
}

/** The 1-based line and column of a character offset into `text`. */
function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** An issue for a JSON file that does not parse, located from V8's "at position N" when it gives one. */
export function jsonIssue(file: string, text: string, e: Error): LoadIssue {
  const at = /at position (\d+)/.exec(e.message);
  return { file, ...(at ? lineCol(text, Number(at[1])) : {}), message: e.message };
}

/**
 * Cedar's issues as issues of `file`, located by line and column when Cedar gave an offset and
 * the file's text is known.
 * @param base offset in `fileText` of the text Cedar's offsets are into (a policy's own text)
 */
export function fromCedar(file: string, issues: CedarIssue[], fileText?: string, base = 0): LoadIssue[] {
  return issues.map((i) => ({
    file,
    ...(fileText !== undefined && i.start !== undefined ? lineCol(fileText, base + i.start) : {}),
    policyId: i.policyId,
    message: i.message,
    help: i.help,
  }));
}
