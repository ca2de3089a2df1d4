import type { Command } from "commander";

/** `verdict serve [--watch]`: start the server (same as `npm start`), configured from the environment. */
export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("Start the Verdict server, configured from the environment (PORT, DATABASE_URL, ...).")
    .option("-w, --watch", "Development mode: serve policies/ and schema/ from disk and reload them on save (ignores activations in the database).")
    .action(async (opts: { watch?: boolean }) => {
      const { runVerdict } = await import("../../main.js");
      await runVerdict({ watch: opts.watch ?? false });
    });
}
