import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TEST_SUPPRESSION_KEY } from '../support/dynamo.js';
import { keyedAddressHasher } from '../../lambdas/adapters/address-hash.js';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { describe, expect, it } from 'vitest';
import { bulkWriter } from '../../lambdas/adapters/bulk-writer.js';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { DynamoSendingStore } from '../../lambdas/adapters/dynamo-sending-store.js';
import { fixedClock } from '../../lambdas/domain/clock.js';
import { recordEngagement } from '../../lambdas/domain/engagement.js';
import type { LeadEvent } from '../../lambdas/domain/events.js';
import { newLead, type Lead } from '../../lambdas/domain/lead.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { evaluateLead, sendTouch, type NurtureDeps } from '../../lambdas/domain/nurture/nurture-tasks.js';
import { staticSigningKeys } from '../../lambdas/domain/nurture/unsubscribe-token.js';
import { SesEventRecord } from '../../lambdas/domain/ses-events.js';
import { openRecord } from '../../lib/local/adapters/ses-simulator.js';
import { countCapacity, resetTally, tally } from '../../bench/support/capacity.js';

/**
 * Work per lead does not grow with its history (issue 13 §2): a touch, a re-evaluation after a track's last touch
 * and an SES Open record consume the same DynamoDB read units on a lead with 1,500 events as on one with 10.
 */
const NOW = '2026-03-02T15:00:00.000Z'; // a Monday, inside the send window
const TABLE = process.env.TABLE_NAME as string;
const client = new DynamoDBClient({
  endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
});
countCapacity(client.middlewareStack);
const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
const repo = new DynamoLeadRepository(doc, TABLE, keyedAddressHasher(TEST_SUPPRESSION_KEY));

const deps: NurtureDeps = {
  leads: repo,
  clock: fixedClock(NOW),
  plan: DEFAULT_NURTURE_PLAN,
  mailer: { send: async () => ({ messageId: `cost-${ulid()}` }) },
  mail: {
    from: 'hello@leadloop.test',
    configurationSetName: 'cost',
    templatePrefix: 'leadloop-cost',
    mailingAddress: 'Leadloop, 1 Test Street',
    siteUrl: 'https://leadloop.test',
    unsubscribeBaseUrl: 'https://api.leadloop.test/unsubscribe',
  },
  signingKeys: staticSigningKeys('k1', { k1: 'per-lead-cost-test-secret-0123456789' }),
  sending: new DynamoSendingStore(doc, TABLE),
  markUnresponsive: (lead) => ({ lead, transitions: [] }),
};

/** A lead in a newsletter run with `n` applied events over the past year (mail and site visits). */
async function leadWith(n: number): Promise<{ lead: Lead; executionName: string; messageId: string }> {
  const leadId = ulid();
  const executionName = `cost-${leadId}`;
  const messageId = `cost-msg-${leadId}`;
  const lead: Lead = {
    ...newLead(leadId, `${leadId.toLowerCase()}@example-corp.com`, new Date('2025-01-01T00:00:00Z')),
    stage: 'lead',
    profile: { firstName: 'Ada', timeZone: 'UTC' },
    consent: { marketing: true, at: '2025-01-01T00:00:00.000Z', source: 'newsletter' },
    nurture: { track: 'newsletter', executionName, status: 'active', enrolledAt: NOW, touchesSent: 0 },
    activity: { lastEngagementAt: '2026-01-01T00:00:00.000Z' },
  };
  const start = Date.parse('2025-03-01T00:00:00Z');
  const events = Array.from({ length: n }, (_, i): LeadEvent => {
    const at = new Date(start + i * 60_000).toISOString();
    const base = { leadId, eventId: `h-${i}`, occurredAt: at, receivedAt: at };
    if (i % 4 === 0) {
      return {
        ...base,
        type: 'email_sent',
        source: 'nurture',
        properties: { messageId: `m-${i}`, executionName: `old-${i}` },
      };
    }
    if (i % 4 === 1) return { ...base, type: 'email_opened', source: 'ses', properties: { messageId: `m-${i - 1}` } };
    return { ...base, type: 'page_viewed', source: 'api', properties: { url: `https://x.io/${i}` } };
  });
  const writer = bulkWriter(doc, TABLE, 8);
  await writer.addLead(lead, events, { appliedAt: '2026-01-01T00:00:00.000Z', transitions: [] });
  await writer.flush();
  return { lead, executionName, messageId };
}

async function readUnits(run: () => Promise<unknown>): Promise<number> {
  resetTally();
  await run();
  return tally.readUnits;
}

async function costs(n: number) {
  const { lead, executionName, messageId } = await leadWith(n);
  const input = { leadId: lead.leadId, track: 'newsletter', executionName };
  const touch = await readUnits(() => sendTouch(deps, { ...input, touch: 1 }));
  const last = DEFAULT_NURTURE_PLAN.tracks.find((t) => t.id === 'newsletter')?.touches.length ?? 1;
  const evaluate = await readUnits(() => evaluateLead(deps, { ...input, touch: last }));
  const open = SesEventRecord.parse(
    openRecord(
      {
        messageId,
        to: lead.email,
        from: 'Leadloop <hello@news.example.com>',
        subject: 'Hello',
        tags: { leadId: lead.leadId },
        timestamp: new Date('2026-03-02T14:00:00Z'),
      },
      { timestamp: new Date('2026-03-02T14:10:00Z'), userAgent: 'Mozilla/5.0 (Macintosh) Chrome/124.0' },
    ),
  );
  const ses = await readUnits(() => recordEngagement({ leads: repo, clock: deps.clock }, open));
  return { touch, evaluate, ses };
}

describe('per-lead cost does not grow with the history', () => {
  it('a touch, a re-evaluation and an SES record read as much on 1,500 events as on 10', async () => {
    const small = await costs(10);
    const large = await costs(1_500);

    expect(small.touch).toBeGreaterThan(0);
    expect(large).toEqual(small);
  }, 180_000);
});
