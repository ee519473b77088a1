import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { ScanCommand, type DynamoDBDocumentClient, type ScanCommandInput } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { LeadEvent } from '../domain/events.js';
import { Lead } from '../domain/lead.js';
import type { LeadLog, LeadRef } from '../domain/model-lab/replay.js';

/**
 * The table read whole, lead by lead, for offline analyses (the model preview, the backtest): parallel Scan segments,
 * each lead's items (its LEAD item and its EVENT# items, which share its partition) assembled and handed on once,
 * with a bounded window of assembled leads in flight, so memory stays flat however many leads the table holds.
 *
 * Why grouping per segment is sound: DynamoDB stores an item collection (every item of one partition key) together,
 * sorted by sort key, and a Scan segment walks the stored order, so one lead's items arrive one after another within
 * one segment; only a page boundary (1 MB, or `pageSize` items) can fall inside them, and the group is carried over
 * to the next page. DynamoDB Local behaves the same (test/integration/lead-table-reader.test.ts splits leads over
 * pages of 7 items). Should a lead's items ever come back apart, the reader notices (it remembers the last
 * `recentKeys` leads of each segment) and counts it in `split` rather than hand on half a lead silently.
 */

/** A lead as the reader hands it on: its log, or why it could not be read. */
export type LeadRead =
  | {
      readonly kind: 'lead';
      readonly log: LeadLog;
      /** The stored lead whole, only when the sunset policy has a record of it (what `simulate` reports on). */
      readonly sunsetLead?: Lead;
    }
  | { readonly kind: 'unreadable'; readonly leadId: string; readonly reason: string };

export interface ReadStats {
  /** Items returned by the scan (leads and events), and items DynamoDB read to find them. */
  items: number;
  scanned: number;
  pages: number;
  leads: number;
  unreadable: number;
  /** Event items whose lead item does not exist (e.g. an erasure under way): skipped. */
  orphans: number;
  /** Leads whose items arrived apart (never seen so far; see above). */
  split: number;
}

export interface ReadOptions {
  /** Parallel Scan segments. @default 4 */
  readonly segments?: number;
  /** Items per Scan page (DynamoDB's own limit is 1 MB). @default none */
  readonly pageSize?: number;
  /** Assembled leads waiting for the consumer, at most (the in-flight window). @default 1000 */
  readonly window?: number;
  /** Called after every page with the running totals. */
  readonly onPage?: (stats: Readonly<ReadStats>) => void;
  /** Leads of each segment remembered to detect a split lead. @default 256 */
  readonly recentKeys?: number;
}

/** Only what an analysis needs of the lead item (the replay starts from scratch): not the stored scores. */
const LeadItem = z.object({ leadId: z.string().min(1), email: z.string().min(1), createdAt: z.iso.datetime() });

/** The attributes read: the lead's identity and every event attribute; the lead's stored scores stay on the server. */
const PROJECTION = [
  'pk',
  'sk',
  'entity',
  'leadId',
  'email',
  'createdAt',
  'eventId',
  'type',
  'occurredAt',
  'receivedAt',
  'source',
  'properties',
];

/** The Scan request of one segment: lead and event items only, projected. Shared with the bare-scan baseline. */
export function scanInput(table: string, segment: number, segments: number, pageSize?: number): ScanCommandInput {
  return {
    TableName: table,
    Segment: segment,
    TotalSegments: segments,
    ProjectionExpression: PROJECTION.map((_, i) => `#a${i}`).join(', '),
    FilterExpression: '#a2 IN (:lead, :event)',
    ExpressionAttributeNames: Object.fromEntries(PROJECTION.map((name, i) => [`#a${i}`, name])),
    ExpressionAttributeValues: { ':lead': 'lead', ':event': 'event' },
    ...(pageSize !== undefined && { Limit: pageSize }),
  };
}

type Item = Record<string, unknown>;

/** A bounded queue between the segment scanners (producers) and the consumer. */
class Channel<T> {
  private readonly items: T[] = [];
  private waitingConsumer: (() => void) | undefined;
  private readonly waitingProducers: (() => void)[] = [];
  private closed = false;
  private failure: unknown;

  get isClosed(): boolean {
    return this.closed;
  }

  constructor(private readonly capacity: number) {}

  async push(item: T): Promise<void> {
    while (this.items.length >= this.capacity && !this.closed)
      await new Promise<void>((r) => this.waitingProducers.push(r));
    this.items.push(item);
    this.wakeConsumer();
  }

  close(failure?: unknown): void {
    this.closed = true;
    this.failure ??= failure;
    this.wakeConsumer();
    for (const wake of this.waitingProducers.splice(0)) wake();
  }

  async *drain(): AsyncGenerator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        this.waitingProducers.shift()?.();
        yield item;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) return;
      await new Promise<void>((r) => (this.waitingConsumer = r));
    }
  }

  private wakeConsumer(): void {
    const wake = this.waitingConsumer;
    this.waitingConsumer = undefined;
    wake?.();
  }
}

/** One lead's items (its partition) as they arrive. */
export interface Group {
  pk: string;
  lead?: Item;
  events: Item[];
}

/** A lead's log from its items, validated; undefined for events without their lead item. Shared with the export reader. */
export function assemble(group: Group): LeadRead | undefined {
  if (!group.lead) return undefined;
  const lead = LeadItem.safeParse(group.lead);
  const leadId = typeof group.lead.leadId === 'string' ? group.lead.leadId : group.pk;
  if (!lead.success)
    return { kind: 'unreadable', leadId, reason: `lead item: ${lead.error.issues[0]?.message ?? 'invalid'}` };
  const events: LeadEvent[] = [];
  for (const item of group.events) {
    const parsed = LeadEvent.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return {
        kind: 'unreadable',
        leadId,
        reason: `event ${String(item.eventId)}: ${issue?.path.join('.') || '(item)'} ${issue?.message ?? 'invalid'}`,
      };
    }
    events.push(parsed.data);
  }
  const ref: LeadRef = lead.data;
  const whole = group.lead.sunset === undefined ? undefined : Lead.safeParse(group.lead);
  return { kind: 'lead', log: { lead: ref, events }, ...(whole?.success && { sunsetLead: whole.data }) };
}

/** Reads the lead table of `table` lead by lead (see the module comment). */
export class LeadTableReader {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** The table's item count as DynamoDB last computed it (updated about every six hours on AWS): for progress. */
  async estimatedItems(): Promise<number | undefined> {
    const out = await this.db.send(new DescribeTableCommand({ TableName: this.table }));
    return out.Table?.ItemCount;
  }

  /** Every lead with its events, each once, as parallel segments find them. Stats accumulate in `stats`. */
  async *leads(options: ReadOptions = {}, stats: ReadStats = emptyStats()): AsyncGenerator<LeadRead> {
    const segments = options.segments ?? 4;
    const channel = new Channel<LeadRead>(options.window ?? 1000);
    let running = segments;
    const scanners = Array.from({ length: segments }, (_, segment) =>
      this.scanSegment(
        segment,
        segments,
        options,
        stats,
        (read) => channel.push(read),
        () => channel.isClosed,
      ).then(
        () => {
          if (--running === 0) channel.close();
        },
        (e: unknown) => channel.close(e),
      ),
    );
    try {
      yield* channel.drain();
    } finally {
      channel.close();
      await Promise.allSettled(scanners);
    }
  }

  private async scanSegment(
    segment: number,
    segments: number,
    options: ReadOptions,
    stats: ReadStats,
    emit: (read: LeadRead) => Promise<void>,
    stopped: () => boolean,
  ): Promise<void> {
    const recent = new Set<string>();
    const recentOrder: string[] = [];
    const remember = options.recentKeys ?? 256;
    let group: Group | undefined;
    const finish = async (g: Group): Promise<void> => {
      if (recent.has(g.pk)) stats.split++;
      recent.add(g.pk);
      recentOrder.push(g.pk);
      if (recentOrder.length > remember) recent.delete(recentOrder.shift() ?? '');
      const read = assemble(g);
      if (!read) {
        stats.orphans += g.events.length;
        return;
      }
      if (read.kind === 'lead') stats.leads++;
      else stats.unreadable++;
      await emit(read);
    };
    let ExclusiveStartKey: Item | undefined;
    do {
      const out = await this.db.send(
        new ScanCommand({ ...scanInput(this.table, segment, segments, options.pageSize), ExclusiveStartKey }),
      );
      stats.pages++;
      stats.scanned += out.ScannedCount ?? 0;
      for (const item of out.Items ?? []) {
        stats.items++;
        const pk = String(item.pk);
        if (group && group.pk !== pk) {
          await finish(group);
          group = undefined;
        }
        group ??= { pk, events: [] };
        if (item.entity === 'lead') group.lead = item;
        else group.events.push(item);
      }
      ExclusiveStartKey = out.LastEvaluatedKey;
      options.onPage?.(stats);
    } while (ExclusiveStartKey && !stopped());
    if (group && !stopped()) await finish(group);
  }
}

export const emptyStats = (): ReadStats => ({
  items: 0,
  scanned: 0,
  pages: 0,
  leads: 0,
  unreadable: 0,
  orphans: 0,
  split: 0,
});

/**
 * The in-run baseline of the analyses: the same parallel Scan (same segments, filter, projection and page size),
 * items unmarshalled and counted, nothing else. Resolves to the items returned.
 */
export async function bareScan(db: DynamoDBDocumentClient, table: string, options: ReadOptions = {}): Promise<number> {
  const segments = options.segments ?? 4;
  const stats = emptyStats();
  await Promise.all(
    Array.from({ length: segments }, async (_, segment) => {
      let ExclusiveStartKey: Item | undefined;
      do {
        const out = await db.send(
          new ScanCommand({ ...scanInput(table, segment, segments, options.pageSize), ExclusiveStartKey }),
        );
        stats.items += out.Items?.length ?? 0;
        stats.scanned += out.ScannedCount ?? 0;
        stats.pages++;
        ExclusiveStartKey = out.LastEvaluatedKey;
        options.onPage?.(stats);
      } while (ExclusiveStartKey);
    }),
  );
  return stats.items;
}
