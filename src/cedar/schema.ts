/**
 * Cedar schemas and entities: the human-readable schema syntax to schema JSON, and entities
 * checked against a schema.
 */
import { cedar, toIssues } from "./wasm.js";
import { CedarParseError, type CedarIssue, type Entity, type SchemaJson } from "./types.js";

/**
 * Converts a schema in Cedar's human-readable syntax to Cedar schema JSON.
 * @throws CedarParseError with Cedar's messages when the text does not parse
 */
export function schemaTextToJson(text: string): SchemaJson {
  const answer = cedar.schemaToJson(text);
  if (answer.type === "failure") throw new CedarParseError("schema does not parse", toIssues(answer.errors));
  return answer.json as unknown as SchemaJson;
}

/**
 * Checks entities against a schema (types, attributes, parents), as Cedar would at evaluation.
 * @returns Cedar's issues; empty when the entities are valid
 */
export function checkEntities(schema: SchemaJson, entities: Entity[]): CedarIssue[] {
  const answer = cedar.checkParseEntities({ entities: entities as cedar.Entities, schema: schema as cedar.Schema });
  return answer.type === "failure" ? toIssues(answer.errors) : [];
}
