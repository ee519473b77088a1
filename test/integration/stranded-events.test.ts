import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { keyedAddressHasher } from '../../lambdas/adapters/address-hash.js';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { ulid } from 'ulid';
import { describe, expect, it, vi } from 'vitest';
import { redrive } from '../../bin/commands/redrive.js';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { fixedClock } from '../../lambdas/domain/clock.js';
import { ingestEvents, type CaptureDeps } from '../../lambdas/domain/capture.js';
import { applyEvents, defaultModel } from '../../lambdas/domain/scoring/index.js';
import { createHandler } from '../../lambdas/handlers/score-stream.js';
import { ensureTable } from '../../lib/local/dynamodb.js';
import { lambdaContext } from '../../lib/local/lambda-context.js';
import { sharedTableProperties } from '../support/deployment.js';
import { testCaptureDeps, uniqueEmail, TEST_SUPPRESSION_KEY } from '../support/dynamo.js';

/** The stream record of an inserted event item, keys only, as the scoring function's mapping delivers it. */
const insert = (leadId: string, eventId: string, seq: number): DynamoDBStreamEvent['Records'][number] => ({
  eventID: `e-${seq}`,
  eventName: 'INSERT',
  eventSource: 'aws:dynamodb',
  dynamodb: {
    Keys: { pk: { S: `LEAD#${leadId}` }, sk: { S: `EVENT#${eventId}` } },
    SequenceNumber: String(seq),
    StreamViewType: 'KEYS_ONLY',
  },
});

const context = () => lambdaContext({ functionName: 'score-stream', region: 'us-east-1', timeoutMs: 30_000 });

describe('events of a dead-lettered stream record are applied later, never stranded', () => {
  it("the lead's next scoring applies the event whose record hit the retry limit", async () => {
    const base = testCaptureDeps();
    const email = uniqueEmail('stranded');
    // The demo request's record was dead-lettered (never scored); a page view comes a day later.
    await ingestEvents(base.deps, [
      { eventId: 'stranded-demo', email, type: 'demo_requested', occurredAt: '2026-03-01T09:00:00Z' },
      { eventId: 'next-visit', email, type: 'page_viewed', occurredAt: '2026-03-02T09:00:00Z' },
    ]);
    const leadId = (await base.repo.findLeadIdByEmail(email)) as string;
    const handler = createHandler(() => ({
      leads: base.repo,
      clock: base.clock,
      apply: (lead, events, now) => applyEvents(lead, events, defaultModel, now),
    }));

    const out = await handler({ Records: [insert(leadId, 'next-visit', 1)] }, context());

    expect(out).toEqual({ batchItemFailures: [] });
    const lead = await base.repo.getLead(leadId);
    expect(lead?.scores?.contributions.map((c) => c.eventId)).toContain('stranded-demo');
    expect((await base.repo.loadPending(leadId, ['stranded-demo', 'next-visit'])).pending).toEqual([]);
  });

  it('`leadloop redrive --endpoint` applies the stranded events of leads that get no further event', async () => {
    // A table of its own: redrive scores every lead with pending events, and other suites keep some on purpose.
    const table = `redrive-${ulid().toLowerCase()}`;
    const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB as string;
    const client = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await ensureTable(client, table, sharedTableProperties());
    const repo = new DynamoLeadRepository(
      DynamoDBDocumentClient.from(client),
      table,
      keyedAddressHasher(TEST_SUPPRESSION_KEY),
    );
    const deps: CaptureDeps = {
      leads: repo,
      clock: fixedClock('2026-03-02T10:00:00Z'),
      newLeadId: (at) => ulid(at.getTime()),
    };
    const emails = [uniqueEmail('quiet-a'), uniqueEmail('quiet-b')];
    for (const [i, email] of emails.entries()) {
      await ingestEvents(deps, [
        { eventId: `quiet-${i}`, email, type: 'webinar_attended', occurredAt: '2026-03-01T09:00:00Z' },
      ]);
    }
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));

    const code = await redrive(['--endpoint', endpoint, '--table', table, '--json']);
    const again = await redrive(['--endpoint', endpoint, '--table', table, '--json']);
    log.mockRestore();

    expect(code).toBe(0);
    expect(again).toBe(0);
    expect(JSON.parse(out[0] ?? '{}')).toMatchObject({ leads: 2, applied: 2, invalid: 0, failed: [] });
    expect(JSON.parse(out[1] ?? '{}')).toMatchObject({ leads: 0, applied: 0 });
    for (const [i, email] of emails.entries()) {
      const leadId = (await repo.findLeadIdByEmail(email)) as string;
      expect((await repo.getLead(leadId))?.scores?.contributions.map((c) => c.eventId)).toContain(`quiet-${i}`);
    }
    client.destroy();
  });
});
