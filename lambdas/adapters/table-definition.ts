/**
 * The single-table layout (DESIGN §3), as plain data so that the CDK stack (lib/lead-store.ts), the local runtime
 * (lib/local) and the adapters share one definition. No AWS imports here.
 *
 * | item           | pk               | sk                     | notes                                   |
 * |----------------|------------------|------------------------|-----------------------------------------|
 * | lead           | LEAD#<leadId>    | LEAD                   | gsi1 by stage, gsi2 review index        |
 * | event          | LEAD#<leadId>    | EVENT#<eventId>        | put once per eventId; `appliedAt` when scored; gsi3 (pending) until then |
 * | event lookup   | LEAD#<leadId>    | KIND#<kind>#<…>        | a copy of a suppressing event or a nurture send, written with it |
 * | message lookup | LEAD#<leadId>    | MSG#<messageId>#<eventId> | a copy of a delivery or click of one SES message, written with it |
 * | stage history  | LEAD#<leadId>    | STAGE#<at>#<to>        | put once per transition                 |
 * | outbox         | LEAD#<leadId>    | OUTBOX#<eventId>       | a lifecycle event to publish, written with its transition |
 * | erasure        | LEAD#<leadId>    | ERASURE                | an erasure under way (drives the erase worker) |
 * | identity       | EMAIL#<email>    | IDENTITY               | created with the lead in one transaction |
 * | suppression    | SUPPRESS#<hmac(email)> | SUPPRESSION      | survives erasure (keyed hash, address-hash.ts) |
 *
 * While a lead is being erased its `LEAD` item is a tombstone (`entity: 'erased-lead'`, an `erasure` attribute, no
 * personal data, no index keys): every append to the partition is conditional on the lead item having no `erasure`.
 */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  byStageIndex: { name: 'byStage', partitionKey: 'gsi1pk', sortKey: 'gsi1sk', projection: 'KEYS_ONLY' },
  /** Projects whole leads: the sweep reads each due lead once, from the index, with no extra GetItem. */
  reviewIndex: { name: 'review', partitionKey: 'gsi2pk', sortKey: 'gsi2sk', projection: 'ALL' },
  /**
   * Sparse: only event items not applied yet carry its keys (scoring removes them), so the unapplied events of a lead
   * (sort key prefix `<leadId>#`) or of a shard are found without reading any history (issue 13).
   */
  pendingIndex: { name: 'pending', partitionKey: 'gsi3pk', sortKey: 'gsi3sk', projection: 'KEYS_ONLY' },
  /** Review-index shards: the sweep reads them in parallel; a lead's shard is a hash of its id. */
  reviewShards: 16,
} as const;

export const keys = {
  lead: (leadId: string) => ({ pk: `LEAD#${leadId}`, sk: 'LEAD' }),
  event: (leadId: string, eventId: string) => ({ pk: `LEAD#${leadId}`, sk: `EVENT#${eventId}` }),
  stage: (leadId: string, at: string, to: string) => ({ pk: `LEAD#${leadId}`, sk: `STAGE#${at}#${to}` }),
  outbox: (leadId: string, eventId: string) => ({ pk: `LEAD#${leadId}`, sk: `OUTBOX#${eventId}` }),
  erasure: (leadId: string) => ({ pk: `LEAD#${leadId}`, sk: 'ERASURE' }),
  identity: (email: string) => ({ pk: `EMAIL#${email}`, sk: 'IDENTITY' }),
  suppression: (emailHash: string) => ({ pk: `SUPPRESS#${emailHash}`, sk: 'SUPPRESSION' }),
  stageIndex: (stage: string) => `STAGE#${stage}`,
  reviewShard: (shard: number) => `REVIEW#${String(shard).padStart(2, '0')}`,
  pendingShard: (shard: number) => `PENDING#${String(shard).padStart(2, '0')}`,
  /** A lookup copy of an event, by kind: `KIND#suppress#<eventId>`, `KIND#sent#<occurredAt>#<eventId>`. */
  eventKind: (leadId: string, kind: string, rest: string) => ({ pk: `LEAD#${leadId}`, sk: `KIND#${kind}#${rest}` }),
  /** A lookup copy of a delivery or click, by SES message id. */
  messageEvent: (leadId: string, messageId: string, eventId: string) => ({
    pk: `LEAD#${leadId}`,
    sk: `MSG#${messageId}#${eventId}`,
  }),
} as const;

/** The shard of a lead in the review index: stable, evenly spread. */
export function reviewShardOf(leadId: string, shards: number = TABLE.reviewShards): number {
  let h = 2166136261;
  for (let i = 0; i < leadId.length; i++) {
    h ^= leadId.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % shards;
}
