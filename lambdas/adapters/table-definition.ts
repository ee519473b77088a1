/**
 * The single-table layout (DESIGN §3), as plain data so that the CDK stack (lib/lead-store.ts), the local runtime
 * (lib/local) and the adapters share one definition. No AWS imports here.
 *
 * | item           | pk               | sk                     | notes                                   |
 * |----------------|------------------|------------------------|-----------------------------------------|
 * | lead           | LEAD#<leadId>    | LEAD                   | gsi1 by stage, gsi2 review index        |
 * | event          | LEAD#<leadId>    | EVENT#<eventId>        | put once per eventId; `appliedAt` when scored |
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
