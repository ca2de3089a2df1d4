/** Verdict's entry point (`npm start`): the server, configured from the environment. */
import { runVerdict } from "./main.js";

void runVerdict();
