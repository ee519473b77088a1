import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { demoLeads } from '../../../bin/demo/personas.js';
import { eventItem, leadItem } from '../../../lambdas/adapters/dynamo-lead-repository.js';
import {
  backtestShard,
  partitionExportFiles,
  reportKeys,
  writeReport,
  type LabStore,
  type RunOptions,
} from '../../../lambdas/adapters/model-lab-run.js';
import { addLead, emptyTally, finalize, type BacktestSpec } from '../../../lambdas/domain/model-lab/backtest.js';
import { newLead } from '../../../lambdas/domain/lead.js';
import { defaultModel, parseModel } from '../../../lambdas/domain/scoring/index.js';

/** S3 in memory. */
function memoryStore(): LabStore & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  const get = async (key: string) => {
    const body = objects.get(key);
    if (!body) throw new Error(`no such key ${key}`);
    return body;
  };
  return {
    objects,
    get,
    stream: async (key) => Readable.from([await get(key)]),
    put: async (key, body) => void objects.set(key, Buffer.isBuffer(body) ? body : Buffer.from(body)),
    list: async (prefix) => [...objects.keys()].filter((k) => k.startsWith(prefix)).sort(),
  };
}

describe('model lab on AWS: shuffle, backtest shards, reduce (in memory)', () => {
  it(
    'gives the report of a single in-process backtest, whichever export file holds which item',
    { timeout: 60_000 },
    async () => {
      const candidate = parseModel({
        ...defaultModel,
        thresholds: { ...defaultModel.thresholds, mql: { fit: 30, engagement: 10 } },
      });
      const store = memoryStore();
      store.objects.set('models/candidate.json', Buffer.from(JSON.stringify(candidate)));
      const leads = [...demoLeads({ leads: 150, until: new Date('2026-06-01T00:00:00Z'), seed: 11 })];

      // An export of three data files, items dealt round-robin: a lead's items end up in different files.
      const files: string[][] = [[], [], []];
      let n = 0;
      for (const l of leads) {
        const items = [
          leadItem(newLead(l.leadId, l.email, new Date(l.createdAt))),
          ...l.events.map(eventItem),
          { pk: `EMAIL#${l.email}`, sk: 'IDENTITY', entity: 'identity', leadId: l.leadId },
        ];
        for (const item of items)
          files[n++ % 3]?.push(JSON.stringify({ Item: marshall(item, { removeUndefinedValues: true }) }));
      }
      const keys = files.map((lines, i) => {
        const key = `exports/AWSDynamoDB/0123-abcd/data/file-${i}.json.gz`;
        store.objects.set(key, gzipSync(lines.join('\n')));
        return key;
      });

      const run: RunOptions = { runId: 'exec-1', shards: 5, options: { candidateModelKey: 'models/candidate.json' } };
      await partitionExportFiles(store, {
        run,
        files: keys.slice(0, 2).map((dataFileS3Key) => ({ dataFileS3Key, itemCount: 1 })),
      });
      await partitionExportFiles(store, { run, files: [{ dataFileS3Key: keys[2] ?? '' }] });
      const shards = await Promise.all(
        Array.from({ length: 5 }, (_, shard) => backtestShard(store, { run, shard }, defaultModel)),
      );
      expect(shards.reduce((s, r) => s + r.leads, 0)).toBe(150);
      const out = await writeReport(store, { run }, defaultModel, new Date('2026-06-02T00:00:00Z'));
      expect(out).toMatchObject(reportKeys('exec-1'));

      const spec: BacktestSpec = { current: defaultModel, candidate };
      const tally = emptyTally(spec);
      for (const l of leads) addLead(tally, { lead: l, events: l.events }, spec);
      const expected = finalize(tally, spec);
      const written = JSON.parse((store.objects.get(out.json) ?? Buffer.from('{}')).toString('utf8')) as Record<
        string,
        unknown
      >;
      expect({ ...written, unreadable: undefined }).toEqual({
        ...JSON.parse(JSON.stringify(expected)),
        unreadable: undefined,
      });
      expect(store.objects.get(out.html)?.toString('utf8')).toMatch(/^<!doctype html>/);
    },
  );
});
