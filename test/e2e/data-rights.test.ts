import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { eraseLead, exportLead } from '../../bin/commands/operator.js';
import { bulkWriter } from '../../lambdas/adapters/bulk-writer.js';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import type { LeadEvent } from '../../lambdas/domain/events.js';
import { startLocalStack, type LocalStack } from '../../lib/local/stack.js';

/**
 * Data rights on the local stack, through the admin API and the CLI: export everything stored about a person, then
 * erase them, after which the address is neither stored again nor mailed.
 */

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({
    port: 0,
    dynamoDbPort: 0,
    sesPort: 0,
    sfnPort: 0,
    inMemory: true,
    pollIntervalMs: 50,
    log: () => undefined,
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** Runs a CLI command and returns its exit code and what it printed. */
async function cli(
  command: (argv: string[]) => Promise<number>,
  argv: string[],
): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
  const err = vi.spyOn(console, 'error').mockImplementation((s: unknown) => void out.push(String(s)));
  try {
    return { code: await command([...argv, '--url', stack.url, '--admin-key', stack.adminKey]), out: out.join('\n') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

const submit = (email: string) =>
  fetch(`${stack.url}/forms/content-download`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, firstName: 'Rosalind', jobTitle: 'Head of Research', consent: true }),
  });

describe('export and erase (admin API and CLI)', () => {
  it('exports everything stored about a lead, then erases it for good', async () => {
    const email = 'rosalind@example-lab.org';
    expect((await submit(email)).status).toBe(202);
    await stack.poller.drain();

    const exported = await cli(exportLead, ['--email', email]);
    expect(exported.code).toBe(0);
    const dump = JSON.parse(exported.out) as {
      lead: { email: string; consent: { ip?: string }; stageHistory: unknown[] };
      events: { type: string }[];
    };
    expect(dump.lead.email).toBe(email);
    expect(dump.lead.consent.ip).toBeDefined();
    // Besides the download, only the confirmation mail of confirmed opt-in (sent, delivered).
    expect(dump.events.map((e) => e.type).filter((t) => !t.startsWith('email_'))).toEqual(['content_download']);
    expect(dump.lead.stageHistory.length).toBeGreaterThan(0);

    const erased = await cli(eraseLead, ['--email', email]);
    expect(erased.code).toBe(0);
    const read = await fetch(`${stack.url}/leads?email=${encodeURIComponent(email)}`, {
      headers: { 'x-admin-key': stack.adminKey },
    });
    expect(read.status).toBe(404);

    // a later submission of the same address is answered as usual but stores nothing
    expect((await submit(email)).status).toBe(202);
    await stack.poller.drain();
    const again = await fetch(`${stack.url}/leads?email=${encodeURIComponent(email)}`, {
      headers: { 'x-admin-key': stack.adminKey },
    });
    expect(again.status).toBe(404);
    expect((await cli(exportLead, ['--email', email])).code).toBe(1);
  });

  it('exports a lead of more than one page whole, showing its progress on stderr', async () => {
    const email = 'barbara@example-lab.org';
    expect((await submit(email)).status).toBe(202);
    await stack.poller.drain();
    // 1,100 events written straight to the stack's table, as scoring leaves them (applied): the export reads them in
    // two pages; the stream has nothing to score.
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: stack.dynamoDbEndpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    );
    const lookup = await fetch(`${stack.url}/leads?email=${encodeURIComponent(email)}`, {
      headers: { 'x-admin-key': stack.adminKey },
    });
    const { leadId } = (await lookup.json()) as { leadId: string };
    const lead = await new DynamoLeadRepository(doc, stack.tableName).getLead(leadId);
    if (!lead) throw new Error('no lead');
    const at = new Date().toISOString();
    const events: LeadEvent[] = Array.from({ length: 1_100 }, (_, i) => ({
      eventId: `page-${String(i).padStart(4, '0')}`,
      leadId,
      type: 'page_viewed',
      occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      receivedAt: at,
      source: 'api',
      properties: { url: `/docs/${i}` },
    }));
    const writer = bulkWriter(doc, stack.tableName);
    await writer.addLead(lead, events, { appliedAt: at, transitions: [] });
    await writer.flush();
    await stack.poller.drain();
    const stderr: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });
    let exported: { code: number; out: string };
    try {
      exported = await cli(exportLead, ['--email', email]);
    } finally {
      write.mockRestore();
    }

    expect(exported.code).toBe(0);
    const dump = JSON.parse(exported.out) as { events: { eventId: string }[]; nextCursor?: unknown };
    const pageViews = dump.events.filter((e) => e.eventId.startsWith('page-'));
    expect(new Set(pageViews.map((e) => e.eventId)).size).toBe(1_100);
    expect(dump.nextCursor).toBeUndefined();
    expect(stderr.join('')).toMatch(/export \[.*\] 100% \| 1,10\d\/1,10\d events/);
  });

  it('refuses admin routes without the admin key', async () => {
    const res = await fetch(`${stack.url}/leads?email=a%40b.com`);
    expect(res.status).toBe(401);
  });
});
