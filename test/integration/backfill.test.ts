import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { backfill } from '../../bin/commands/backfill.js';
import { appliedEventItem } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { keys } from '../../lambdas/adapters/table-definition.js';
import type { LeadEvent } from '../../lambdas/domain/events.js';
import { newLead } from '../../lambdas/domain/lead.js';
import { testRepository, uniqueEmail } from '../support/dynamo.js';

/** `leadloop backfill` on a table written before the keyed lookups and the pending index (issue 13). */
const { repo, doc } = testRepository();
const table = process.env.TABLE_NAME ?? '';
const common = ['--endpoint', process.env.AWS_ENDPOINT_URL_DYNAMODB ?? '', '--table', table, '--no-progress'];
afterAll(() => doc.destroy());

async function run(): Promise<{ code: number; counts: Record<string, number> }> {
  const out: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
  try {
    const code = await backfill([...common, '--json', '--segments', '3']);
    return { code, counts: JSON.parse(out.join('\n')) as Record<string, number> };
  } finally {
    log.mockRestore();
  }
}

const event = (leadId: string, over: Partial<LeadEvent>): LeadEvent => ({
  eventId: ulid(),
  leadId,
  type: 'page_viewed',
  occurredAt: '2026-03-02T10:00:00.000Z',
  receivedAt: '2026-03-02T10:00:01.000Z',
  source: 'api',
  properties: {},
  ...over,
});

describe('leadloop backfill', () => {
  it('gives old events their lookups and pending keys, skips leads being erased, and changes nothing the second time', async () => {
    // Arrange: a live lead with an old nurture send (applied, no lookup) and an old page view never applied (not in
    // the pending index), as the table held them before; and a lead being erased with an old send.
    const live = ulid();
    await repo.createLead(newLead(live, uniqueEmail('backfill'), new Date('2026-03-01T00:00:00Z')));
    const sent = event(live, { type: 'email_sent', source: 'nurture', properties: { track: 'newsletter', touch: 1 } });
    const viewed = event(live, {});
    await doc.send(new PutCommand({ TableName: table, Item: appliedEventItem(sent, '2026-03-02T10:00:02.000Z') }));
    await doc.send(
      new PutCommand({ TableName: table, Item: { ...viewed, ...keys.event(live, viewed.eventId), entity: 'event' } }),
    );
    const erasing = ulid();
    await doc.send(
      new PutCommand({
        TableName: table,
        Item: { ...keys.lead(erasing), entity: 'erased-lead', leadId: erasing, erasure: { requestedAt: 'x' } },
      }),
    );
    const erasingSend = event(erasing, { type: 'email_sent', source: 'nurture', properties: { track: 'newsletter' } });
    await doc.send(
      new PutCommand({ TableName: table, Item: appliedEventItem(erasingSend, '2026-03-02T10:00:02.000Z') }),
    );
    expect(await repo.nurtureSendsSince(live, new Date(0))).toEqual([]);
    expect(await repo.pendingEventIds(live)).toEqual([]);

    // Act
    const first = await run();
    const second = await run();

    // Assert: the send is found by its lookup, the page view by the pending index; the erased lead got nothing back.
    expect(first.code).toBe(0);
    expect(first.counts).toMatchObject({ events: 3, updated: 2, gone: 1, invalid: 0 });
    expect((await repo.nurtureSendsSince(live, new Date(0))).map((e) => e.eventId)).toEqual([sent.eventId]);
    expect(await repo.pendingEventIds(live)).toEqual([viewed.eventId]);
    expect(await repo.nurtureSendsSince(erasing, new Date(0))).toEqual([]);
    expect(second.counts).toMatchObject({ events: 3, updated: 0, current: 2, gone: 1 });
  });

  it('rejects bad usage with exit code 2', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await backfill([...common, '--segments', '0'])).toBe(2);
      expect(await backfill(['--frobnicate'])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});
