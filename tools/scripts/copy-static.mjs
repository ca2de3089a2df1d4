// Copies the decision explorer's static files (src/ui/static) beside the compiled
// dist/src/ui/routes.js, which serves them from `./static/`: tsc copies no file that is not
// TypeScript. Run by `npm run build` after tsc, from the package root.
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");
const to = join(root, "dist", "src", "ui", "static");
rmSync(to, { recursive: true, force: true });
cpSync(join(root, "src", "ui", "static"), to, { recursive: true });
