/**
 * The claims of the signed checkpoints of the decision log's hash chain (docs/tamper-evidence.md):
 * the heads the chain checkpointer signs (`src/audit/checkpoints.ts`) and the retention
 * checkpoints that partition maintenance signs for what it drops (`./partitions.ts`). Both sign
 * with Verdict's signing keys; the verifier (`src/audit/verify.ts`) reads them.
 */

/** The JWT `typ` of a signed chain head. */
export const CHAIN_HEAD_TYP = "verdict-chain-head+jwt";
/** The JWT `typ` of a signed retention checkpoint. */
export const CHAIN_RETENTION_TYP = "verdict-chain-retention+jwt";
/** The claims format of the checkpoints Verdict signs (legacy heads have no `v`). */
export const CHECKPOINT_VERSION = 2;
/** The claims of a legacy (pre-0006) signed head, and the core of every checkpoint (plus `iat`). */
export interface ChainHeadClaims {
  stream: string;
  seq: number;
  hash: string;
}

/** How a stream registered itself (`streams` row), as its writer's heads sign it. */
export interface StreamRegistration {
  startedAt: string;
  host: string;
  pid: number;
}

/** One stream a head lists: its id, the newest seq signed for it (or pruned through), its `chain_version`. */
export type ListedStream = [id: string, seq: number, version: number];

/** The claims of a signed head (`typ: verdict-chain-head+jwt`). */
export interface HeadClaims extends ChainHeadClaims {
  v: 2;
  kind: "head";
  /** The row's `time`, ISO 8601 with milliseconds. */
  time: string;
  /** The seq of this stream's previous signed head (0 for its first). */
  prevSeq: number;
  /** The most records the writer leaves after a signed head: max(everyRecords, its batch size). */
  maxUnsigned: number;
  registration: StreamRegistration | null;
  /** Every stream the writer knew of (but this one), when the listing was due. */
  streams?: ListedStream[];
}

/** The claims of a signed retention checkpoint (`typ: verdict-chain-retention+jwt`). */
export interface RetentionClaims extends ChainHeadClaims {
  v: 2;
  kind: "retention";
  time: string;
  /** The first seq of this stream the dropped partition held (`seq` is the last). */
  fromSeq: number;
  /** The dropped partition. */
  partition: string;
}
