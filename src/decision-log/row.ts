/**
 * The one mapping between the decision record (`DecisionRecord`, the wire schema in
 * `src/contract/decision-log.ts`) and its row in `decisions` (`src/db/schema.ts`). The record's
 * fields are the schema's, in its order; each is stored in the column of the same name, except:
 *
 * - `user` in `userId` (`user_id`: `user` is a reserved word in SQL);
 * - `time`, an ISO 8601 string in the record, a `timestamptz` (a `Date`) in the row.
 *
 * Two columns are not fields of the record: `taskId`, a copy of `task.id` for the task index
 * (the verifier compares it with the hashed `task`), and `hashVersion`, which hash covers the row
 * (`HASH_VERSION` in `./record.ts`). The types below fail to compile when a field or a column is
 * added on one side only.
 */
import { DecisionRecord } from "../contract/decision-log.js";
import { decisions } from "../db/schema.js";
import { HASH_VERSION } from "./record.js";

/** A row of `decisions` as drizzle reads it, and as it inserts it. */
export type Row = typeof decisions.$inferSelect;
export type NewRow = typeof decisions.$inferInsert;

/** A field of the record. */
export type RecordField = keyof DecisionRecord;

/** The columns whose key differs from their field's. */
const RENAMED = { user: "userId" } as const satisfies Partial<Record<RecordField, keyof Row>>;

/** The column (drizzle key) that holds a field. */
export type ColumnOf<F extends RecordField> = F extends keyof typeof RENAMED ? (typeof RENAMED)[F] : F;

/** The columns that are no field of the record (see the module comment). */
type DerivedColumn = "taskId" | "hashVersion";

// Every field has its column, and every column is a field's or a derived one: a compile error otherwise.
type Unstored = Exclude<ColumnOf<RecordField>, keyof Row>;
type Unmapped = Exclude<keyof Row, ColumnOf<RecordField> | DerivedColumn>;
const everyFieldStored: [Unstored] extends [never] ? true : Unstored = true;
const everyColumnMapped: [Unmapped] extends [never] ? true : Unmapped = true;
void everyFieldStored;
void everyColumnMapped;

/** The record's fields as stored: the field names, the columns' values (`time` a `Date`). */
export type StoredFields = { [F in RecordField]: Row[ColumnOf<F>] };

/** The record's fields, in the wire schema's order (the order of a record read back). */
export const RECORD_FIELDS = Object.keys(DecisionRecord.shape) as RecordField[];

/** The column (drizzle key) of `decisions` that holds `field`. */
export function columnOf<F extends RecordField>(field: F): ColumnOf<F> {
  return ((RENAMED as Partial<Record<RecordField, string>>)[field] ?? field) as ColumnOf<F>;
}

/** Maps a chained record to its row in `decisions`, hashed as {@link HASH_VERSION} says. */
export function toRow(r: DecisionRecord): NewRow {
  const row: Record<string, unknown> = {};
  for (const field of RECORD_FIELDS) row[columnOf(field)] = r[field];
  row.time = new Date(r.time);
  row.traceId = r.traceId ?? null;
  row.taskId = (r.task as { id?: string } | null)?.id ?? null;
  row.hashVersion = HASH_VERSION;
  return row as NewRow;
}

/** Maps a row of `decisions` back to the record it was written from (`taskId` and `hashVersion` stay behind). */
export function fromRow(r: Row): DecisionRecord {
  const record: Record<string, unknown> = {};
  for (const field of RECORD_FIELDS) record[field] = r[columnOf(field)];
  record.time = r.time.toISOString();
  // Columns are typed loosely (`text`, `jsonb`); the writer stored a record of the wire schema.
  return record as DecisionRecord;
}

/**
 * A select list that reads the given fields of the record under their record names, for queries
 * that need only some of them (replay): `db.select(selectFields(["id", "user"]))` gives rows
 * `{ id, user }` with the column's types (`time` a `Date`).
 */
export function selectFields<const F extends RecordField>(fields: readonly F[]): { [K in F]: (typeof decisions)[ColumnOf<K>] } {
  return Object.fromEntries(fields.map((f) => [f, decisions[columnOf(f)]])) as { [K in F]: (typeof decisions)[ColumnOf<K>] };
}
