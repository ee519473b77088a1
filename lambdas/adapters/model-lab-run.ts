import { createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod';
import {
  addLead,
  emptyTally,
  finalize,
  mergeTallies,
  Tally,
  type BacktestReport,
  type BacktestSpec,
} from '../domain/model-lab/backtest.js';
import { parseModel, type ScoringModel } from '../domain/scoring/index.js';
import { assemble, type Group } from './lead-table-reader.js';
import { renderReportHtml } from './model-lab-html.js';

/**
 * The backtest on AWS (DESIGN §11, lib/model-lab.ts): a Step Functions Distributed Map over a DynamoDB export in S3,
 * in three steps, each a Lambda handler over this module.
 *
 * 1. `partitionExportFiles`: a batch of the export's data files (gzipped DynamoDB JSON lines) is read, lead and
 *    event items kept, and written to `shards` shuffle files by a hash of the lead's key: the export gives no
 *    guarantee that a lead's items sit in one data file, the shuffle makes them meet.
 * 2. `backtestShard`: one shard's shuffle files are read, items grouped by lead, each lead folded into a tally
 *    (lambdas/domain/model-lab), and the tally written as a partial.
 * 3. `writeReport`: the partials merged, the report finalized and written as JSON and HTML.
 */

/** What the three steps need of S3 (an interface, so tests run the whole run in memory). */
export interface LabStore {
  get(key: string): Promise<Buffer>;
  /** A streaming read, for export data files that may be large. */
  stream(key: string): Promise<Readable>;
  put(key: string, body: Buffer | string, contentType: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
}

/** What an operator starts a run with (the execution's input); every field optional. */
export const RunInput = z.strictObject({
  /** S3 key (in the lab bucket, under models/) of a candidate scoring model (JSON). */
  candidateModelKey: z
    .string()
    .regex(/^models\/[^\s]+$/, 'must be a key under models/')
    .optional(),
  since: z.iso.datetime().optional(),
  until: z.iso.datetime().optional(),
  targetPrecision: z.number().gt(0).max(1).optional(),
});
export type RunInput = z.infer<typeof RunInput>;

/** The options of one run, as the state machine passes them to every step. */
export const RunOptions = z.strictObject({
  runId: z.string().regex(/^[A-Za-z0-9._-]{1,80}$/, 'must be 1-80 letters, digits, . _ -'),
  shards: z.number().int().min(1).max(10_000),
  options: RunInput,
});
export type RunOptions = z.infer<typeof RunOptions>;

export const PartitionInput = z.object({
  run: RunOptions,
  /** The Distributed Map's batch: lines of the export's manifest-files.json. */
  files: z.array(z.object({ dataFileS3Key: z.string().min(1) }).loose()).min(1),
});
export type PartitionInput = z.infer<typeof PartitionInput>;

export const ShardInput = z.object({ run: RunOptions, shard: z.number().int().min(0) });
export type ShardInput = z.infer<typeof ShardInput>;

export const ReportInput = z.object({ run: RunOptions });
export type ReportInput = z.infer<typeof ReportInput>;

const runPrefix = (runId: string) => `runs/${runId}`;
const shardPrefix = (runId: string, shard: number) => `${runPrefix(runId)}/shuffle/${String(shard).padStart(5, '0')}/`;
export const reportKeys = (runId: string) => ({
  json: `${runPrefix(runId)}/report.json`,
  html: `${runPrefix(runId)}/report.html`,
});

/** The shard of a lead's partition key (FNV-1a): stable, evenly spread. */
export function shardOf(pk: string, shards: number): number {
  let h = 2166136261;
  for (let i = 0; i < pk.length; i++) {
    h ^= pk.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % shards;
}

type Item = Record<string, unknown>;

/** One line of an export data file: `{"Item": {<attribute>: {<type>: value}}}`. */
const ExportLine = z.object({ Item: z.record(z.string(), z.unknown()) });

async function* exportItems(stream: Readable): AsyncGenerator<Item> {
  const lines = createInterface({ input: stream.pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const parsed = ExportLine.parse(JSON.parse(line) as unknown);
    yield unmarshall(parsed.Item as Parameters<typeof unmarshall>[0]);
  }
}

/** Step 1: a batch of export data files into shuffle files, one per shard that got items. */
export async function partitionExportFiles(
  store: LabStore,
  input: PartitionInput,
): Promise<{ files: number; items: number }> {
  const { runId, shards } = input.run;
  const buckets = new Map<number, string[]>();
  let items = 0;
  for (const file of input.files) {
    for await (const item of exportItems(await store.stream(file.dataFileS3Key))) {
      if (item.entity !== 'lead' && item.entity !== 'event') continue;
      const shard = shardOf(String(item.pk), shards);
      let lines = buckets.get(shard);
      if (!lines) buckets.set(shard, (lines = []));
      lines.push(JSON.stringify(item));
      items++;
    }
  }
  // One shuffle file per shard per batch, named after the batch's first data file (a retried batch overwrites its own).
  const part = (input.files[0]?.dataFileS3Key ?? 'batch').replace(/[^A-Za-z0-9]+/g, '-').slice(-80);
  await Promise.all(
    [...buckets].map(([shard, lines]) =>
      store.put(`${shardPrefix(runId, shard)}${part}.jsonl.gz`, gzipSync(lines.join('\n')), 'application/gzip'),
    ),
  );
  return { files: input.files.length, items };
}

/** The backtest spec of a run: the bundled current model, a candidate from the bucket, the window. */
export async function specOf(store: LabStore, run: RunOptions, current: ScoringModel): Promise<BacktestSpec> {
  const { candidateModelKey, since, until } = run.options;
  const candidate = candidateModelKey
    ? parseModel(JSON.parse((await store.get(candidateModelKey)).toString('utf8')) as unknown)
    : undefined;
  return {
    current,
    ...(candidate && { candidate }),
    ...(since && { sinceMs: Date.parse(since) }),
    ...(until && { untilMs: Date.parse(until) }),
  };
}

/** Step 2: one shard's leads, grouped from its shuffle files and folded into a partial tally. */
export async function backtestShard(
  store: LabStore,
  input: ShardInput,
  current: ScoringModel,
): Promise<{ shard: number; leads: number; labeled: number; unreadable: number }> {
  const spec = await specOf(store, input.run, current);
  const groups = new Map<string, Group>();
  for (const key of await store.list(shardPrefix(input.run.runId, input.shard))) {
    for (const line of gunzipSync(await store.get(key))
      .toString('utf8')
      .split('\n')) {
      if (line === '') continue;
      const item = JSON.parse(line) as Item;
      const pk = String(item.pk);
      let group = groups.get(pk);
      if (!group) groups.set(pk, (group = { pk, events: [] }));
      if (item.entity === 'lead') group.lead = item;
      else group.events.push(item);
    }
  }
  const tally = emptyTally(spec);
  let unreadable = 0;
  for (const group of groups.values()) {
    const read = assemble(group);
    if (read?.kind === 'lead') addLead(tally, read.log, spec);
    else if (read) unreadable++;
  }
  await store.put(
    `${runPrefix(input.run.runId)}/partials/${String(input.shard).padStart(5, '0')}.json`,
    JSON.stringify({ tally, unreadable }),
    'application/json',
  );
  return { shard: input.shard, leads: tally.leads, labeled: tally.labeled, unreadable };
}

const Partial = z.object({ tally: Tally, unreadable: z.number().int() });

/** Step 3: every shard's partial merged into the report, written as JSON and HTML next to them. */
export async function writeReport(
  store: LabStore,
  input: ReportInput,
  current: ScoringModel,
  now: Date,
): Promise<{
  json: string;
  html: string;
  report: Pick<BacktestReport, 'leads' | 'labeled' | 'positives' | 'negatives' | 'unlabeled'> & { unreadable: number };
}> {
  const spec = await specOf(store, input.run, current);
  let tally = emptyTally(spec);
  let unreadable = 0;
  for (const key of await store.list(`${runPrefix(input.run.runId)}/partials/`)) {
    const partial = Partial.parse(JSON.parse((await store.get(key)).toString('utf8')) as unknown);
    tally = mergeTallies(tally, partial.tally);
    unreadable += partial.unreadable;
  }
  const report = finalize(tally, spec, {
    ...(input.run.options.targetPrecision !== undefined && { targetPrecision: input.run.options.targetPrecision }),
    ...(spec.sinceMs !== undefined && { sinceMs: spec.sinceMs }),
    ...(spec.untilMs !== undefined && { untilMs: spec.untilMs }),
  });
  const keys = reportKeys(input.run.runId);
  await store.put(keys.json, JSON.stringify({ ...report, unreadable }, null, 2), 'application/json');
  await store.put(
    keys.html,
    renderReportHtml(report, {
      generatedAt: now.toISOString(),
      currentName: 'deployed model',
      ...(input.run.options.candidateModelKey && { candidateName: input.run.options.candidateModelKey }),
    }),
    'text/html; charset=utf-8',
  );
  const { leads, labeled, positives, negatives, unlabeled } = report;
  return { ...keys, report: { leads, labeled, positives, negatives, unlabeled, unreadable } };
}
