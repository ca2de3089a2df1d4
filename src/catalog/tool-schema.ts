/**
 * Turns pinned MCP tool catalogs into Cedar schema: one action per tool, named
 * `Mcp::Action::"<server>/<tool>"`, member of `Mcp::Action::"<server>"` and
 * `Mcp::Action::"call_tool"`, with context `{input: <typed from inputSchema>, session: Mcp::Session}`.
 *
 * The typing of `input` comes from the official generator `@cedar-policy/mcp-schema-generator-wasm`
 * (cedar-for-agents). It rejects tool names with `-` or `.` (legal in MCP), so tools are given
 * safe names for generation and the generated actions are then renamed; each server's generated
 * types live in their own namespace `Mcp::Tools::<server>` so two servers never collide.
 * JSON `number` becomes Cedar `decimal` (`numbersAsDecimal`), `integer` becomes `Long`,
 * objects become records and string enums become Cedar enumerated entity types.
 */
import { createHash } from "node:crypto";
import { generateSchema } from "@cedar-policy/mcp-schema-generator-wasm";
import { Ajv, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import canonicalize from "canonicalize";
import type { CedarType, SchemaAction, SchemaJson } from "../cedar/types.js";
import type { ToolCatalog } from "./capture.js";

/** A tool's input type with every name resolved, used to convert JSON arguments into Cedar values. */
export type InputType =
  | { kind: "string" }
  | { kind: "long" }
  | { kind: "bool" }
  | { kind: "extension"; name: string }
  | { kind: "set"; element: InputType }
  | { kind: "record"; attributes: Record<string, { type: InputType; required: boolean }> }
  | { kind: "entity"; name: string; enum?: string[] };

/** One pinned tool, ready for decisions. */
export interface PinnedTool {
  server: string;
  /** The tool's MCP name, as the server reports it. */
  tool: string;
  /** `<server>/<tool>`: the id of its Cedar action. */
  actionId: string;
  /** The pinned MCP tool object (name, description, inputSchema, annotations, ...). */
  definition: Record<string, unknown> & { name: string };
  /** `sha256:<hex>` of the canonical {name, description, inputSchema, annotations}. */
  definitionHash: string;
  inputType: InputType;
  /**
   * Checks arguments against the pinned inputSchema (JSON Schema draft-07 or 2020-12, by its
   * `$schema`). Returns null when they fit, else what is wrong.
   */
  checkArguments(args: unknown): string | null;
}

const draft7 = new Ajv({ strict: false, allErrors: false, validateFormats: false });
const draft2020 = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });

function compileInputSchema(server: string, tool: string, schema: unknown): (args: unknown) => string | null {
  const s = (schema ?? { type: "object" }) as Record<string, unknown>;
  const ajv = typeof s.$schema === "string" && s.$schema.includes("2020-12") ? draft2020 : draft7;
  let validate: ValidateFunction;
  try {
    const { $schema: _ignored, ...rest } = s;
    validate = ajv.compile(rest);
  } catch (e) {
    throw new CatalogError(`server ${server}: tool ${tool} has an inputSchema that does not compile: ${(e as Error).message}`);
  }
  return (args) => {
    if (validate(args)) return null;
    const err = validate.errors?.[0];
    return err ? `${err.instancePath || "/"} ${err.message ?? "is invalid"}` : "arguments do not fit the inputSchema";
  };
}

/** Raised when a catalog cannot be turned into schema. */
export class CatalogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CatalogError";
  }
}

/**
 * The hash that identifies a tool definition for pinning and drift detection: SHA-256 over the
 * RFC 8785 canonical JSON of the fields a client relies on (MCP 2025-06-18 `Tool`: name,
 * description, inputSchema, annotations).
 * @returns `sha256:<64 hex digits>`
 */
export function toolDefinitionHash(tool: Record<string, unknown>): string {
  const pick = {
    name: tool.name ?? null,
    description: tool.description ?? null,
    inputSchema: tool.inputSchema ?? null,
    annotations: tool.annotations ?? null,
  };
  return "sha256:" + createHash("sha256").update(canonicalize(pick) ?? "").digest("hex");
}

const SAFE = /[^A-Za-z0-9_]/g;
function safeIdent(name: string): string {
  const s = name.replace(SAFE, "_");
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

const BUILTINS: Record<string, InputType> = {
  String: { kind: "string" },
  Long: { kind: "long" },
  Bool: { kind: "bool" },
  Boolean: { kind: "bool" },
  decimal: { kind: "extension", name: "decimal" },
  ipaddr: { kind: "extension", name: "ipaddr" },
  datetime: { kind: "extension", name: "datetime" },
  duration: { kind: "extension", name: "duration" },
};

function resolveType(schema: SchemaJson, ns: string, t: CedarType, depth = 0): InputType {
  if (depth > 64) throw new CatalogError(`type nesting too deep in ${ns}`);
  switch (t.type) {
    case "String":
    case "Long":
    case "Boolean":
      return BUILTINS[t.type]!;
    case "Set":
      return { kind: "set", element: resolveType(schema, ns, t.element!, depth + 1) };
    case "Record": {
      const attributes: Record<string, { type: InputType; required: boolean }> = {};
      for (const [k, v] of Object.entries(t.attributes ?? {})) {
        attributes[k] = { type: resolveType(schema, ns, v, depth + 1), required: v.required !== false };
      }
      return { kind: "record", attributes };
    }
    case "Extension":
      return { kind: "extension", name: t.name! };
    case "Entity":
      return entityType(schema, ns, t.name!);
    case "EntityOrCommon":
      return resolveName(schema, ns, t.name!, depth);
    default:
      return resolveName(schema, ns, t.type, depth);
  }
}

function split(name: string, ns: string): [string, string] {
  const i = name.lastIndexOf("::");
  return i < 0 ? [ns, name] : [name.slice(0, i), name.slice(i + 2)];
}

function resolveName(schema: SchemaJson, ns: string, name: string, depth: number): InputType {
  const [n, local] = split(name, ns);
  const common = schema[n]?.commonTypes?.[local];
  if (common) return resolveType(schema, n, common, depth + 1);
  if (!name.includes("::") && BUILTINS[name]) return BUILTINS[name]!;
  return entityType(schema, ns, name);
}

function entityType(schema: SchemaJson, ns: string, name: string): InputType {
  const [n, local] = split(name, ns);
  const def = schema[n]?.entityTypes?.[local] as { enum?: string[] } | undefined;
  if (!def) throw new CatalogError(`unknown type ${name} in ${ns}`);
  return { kind: "entity", name: `${n}::${local}`, enum: def.enum };
}

/** What the catalogs add to the base schema. */
export interface ToolSchema {
  /** Namespaces `Mcp::Tools::<server>` (and their sub-namespaces) with the input types. */
  namespaces: SchemaJson;
  /** Actions to add to namespace `Mcp`: one per server (a group) and one per tool. */
  actions: Record<string, SchemaAction>;
  /** Pinned tools by action id (`<server>/<tool>`). */
  tools: Map<string, PinnedTool>;
}

/**
 * Generates the tool actions' schema from pinned catalogs.
 * @param catalogs server id to its pinned `tools/list` result
 * @throws CatalogError naming the server and tool when a catalog cannot be typed
 */
export function generateToolSchema(catalogs: Map<string, ToolCatalog>): ToolSchema {
  const namespaces: SchemaJson = {};
  const actions: Record<string, SchemaAction> = {};
  const tools = new Map<string, PinnedTool>();
  const usedNs = new Map<string, string>();
  for (const [server, catalog] of [...catalogs].sort(([a], [b]) => a.localeCompare(b))) {
    if (server.includes("/")) throw new CatalogError(`server id ${JSON.stringify(server)} must not contain "/"`);
    const nsName = `Mcp::Tools::${safeIdent(server)}`;
    const clash = usedNs.get(nsName);
    if (clash) throw new CatalogError(`servers ${JSON.stringify(clash)} and ${JSON.stringify(server)} map to the same namespace ${nsName}`);
    usedNs.set(nsName, server);

    const safeToOriginal = new Map<string, Record<string, unknown> & { name: string }>();
    for (const tool of catalog.tools) {
      if (typeof tool.name !== "string" || tool.name === "") throw new CatalogError(`server ${server}: a tool has no name`);
      let safe = safeIdent(tool.name);
      for (let i = 2; safeToOriginal.has(safe) || safe === "call_tool"; i++) safe = `${safeIdent(tool.name)}_${i}`;
      safeToOriginal.set(safe, tool);
    }
    const stub = `namespace ${nsName} {
  @mcp_principal entity Agent;
  @mcp_resource entity Server;
  action "call_tool" appliesTo { principal: [Agent], resource: [Server] };
}`;
    const renamed = [...safeToOriginal].map(([safe, t]) => ({ ...t, name: safe }));
    const result = JSON.parse(
      generateSchema(stub, JSON.stringify(renamed), JSON.stringify({ numbersAsDecimal: true, objectsAsRecords: true })),
    ) as { isOk: boolean; error: string | null; schemaJson: string | null };
    if (!result.isOk || !result.schemaJson) throw new CatalogError(`server ${server}: cannot generate schema: ${result.error}`);
    const generated = JSON.parse(result.schemaJson) as SchemaJson;
    const main = generated[nsName];
    if (!main) throw new CatalogError(`server ${server}: generator produced no namespace ${nsName}`);

    actions[server] = { memberOf: [{ id: "call_tool" }] };
    for (const [safe, tool] of safeToOriginal) {
      const generatedAction = main.actions[safe];
      const inputRef = generatedAction?.appliesTo?.context?.attributes?.input;
      if (!inputRef) throw new CatalogError(`server ${server}: no input type generated for tool ${tool.name}`);
      const inputName = inputRef.type === "EntityOrCommon" ? inputRef.name! : inputRef.type;
      const qualified = inputName.includes("::") ? inputName : `${nsName}::${inputName}`;
      const actionId = `${server}/${tool.name}`;
      actions[actionId] = {
        memberOf: [{ id: server }, { id: "call_tool" }],
        appliesTo: {
          principalTypes: ["Agent"],
          resourceTypes: ["Server"],
          context: {
            type: "Record",
            attributes: { input: { type: qualified }, session: { type: "Session" } },
          },
        },
      };
      tools.set(actionId, {
        server,
        tool: tool.name,
        actionId,
        definition: tool,
        definitionHash: toolDefinitionHash(tool),
        inputType: resolveType(generated, nsName, { type: qualified }),
        checkArguments: compileInputSchema(server, tool.name, tool.inputSchema),
      });
    }
    delete main.entityTypes.Agent;
    delete main.entityTypes.Server;
    main.actions = {};
    for (const [name, def] of Object.entries(generated)) namespaces[name] = def;
  }
  return { namespaces, actions, tools };
}
