import { ulid } from 'ulid';
import { describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});
import { DynamoSendingStore } from '../../lambdas/adapters/dynamo-sending-store.js';
import { scoringModel } from '../../lambdas/adapters/scoring-model.js';
import { ingestEvents } from '../../lambdas/domain/capture.js';
import { fixedClock } from '../../lambdas/domain/clock.js';
import type { Lead } from '../../lambdas/domain/lead.js';
import type { ConfirmationDeps } from '../../lambdas/domain/nurture/confirmation.js';
import { DEFAULT_NURTURE_PLAN } from '../../lambdas/domain/nurture/default-tracks.js';
import { isMailable } from '../../lambdas/domain/nurture/enrollment.js';
import type { OutgoingEmail } from '../../lambdas/domain/nurture/ports.js';
import { signUnsubscribeToken, staticSigningKeys } from '../../lambdas/domain/nurture/unsubscribe-token.js';
import { scorePendingEvents } from '../../lambdas/domain/scoring-pipeline.js';
import { applyEvents } from '../../lambdas/domain/scoring/index.js';
import { createHandler as confirmHandler } from '../../lambdas/handlers/confirm.js';
import { createHandler as formHandler } from '../../lambdas/handlers/capture-form.js';
import { lambdaContext } from '../../lib/local/lambda-context.js';
import { apiEvent } from '../support/api-event.js';
import { testRepository, uniqueEmail } from '../support/dynamo.js';

/**
 * Confirmed opt-in (issue 12 §4) through the form and confirmation handlers in process, on DynamoDB Local: consent
 * given on a form waits for the confirmation link, no marketing mail meanwhile, one POST confirms, the confirmation
 * mail is rate-limited per address, and the switches turn it off.
 */

const { repo, doc } = testRepository();
const store = new DynamoSendingStore(doc, process.env.TABLE_NAME ?? 'leadloop-test');
const clock = fixedClock('2026-03-02T15:00:00.000Z');
const keys = staticSigningKeys('k1', { k1: 'confirmed-opt-in-test-secret-012345' });
const context = lambdaContext({ functionName: 'test', region: 'us-east-1', timeoutMs: 10_000 });
const scoring = {
  leads: repo,
  clock,
  apply: (lead: Lead, events: Parameters<typeof applyEvents>[1], now: Date) =>
    applyEvents(lead, events, scoringModel, now),
  nurture: {
    tracks: DEFAULT_NURTURE_PLAN.tracks,
    starter: { start: async () => 'started' as const, stop: async () => 'stopped' as const },
  },
};

function forms(opts: { confirmedOptIn: boolean }) {
  const sent: OutgoingEmail[] = [];
  const confirmation = (): ConfirmationDeps => ({
    leads: repo,
    clock,
    mailer: { send: async (email) => (sent.push(email), { messageId: `m-${sent.length}` }) },
    mail: {
      from: 'hello@leadloop.test',
      configurationSetName: 'leadloop-test',
      templatePrefix: 'leadloop-dev',
      mailingAddress: 'Leadloop, 1 Test Street',
      siteUrl: 'https://leadloop.test',
      unsubscribeBaseUrl: 'https://api.leadloop.test/unsubscribe',
      confirmBaseUrl: 'https://api.leadloop.test/confirm',
    },
    signingKeys: keys,
    store,
    policy: DEFAULT_NURTURE_PLAN.policy.confirmation,
    unsubscribeLinkDays: 365,
  });
  const handler = formHandler(() => ({
    leads: repo,
    clock,
    newLeadId: (at) => ulid(at.getTime()),
    allowedOrigins: ['http://localhost:3000'],
    confirmedOptIn: opts.confirmedOptIn,
    confirmation,
  }));
  const post = async (formId: string, fields: Record<string, string>) => {
    const res = await handler(
      apiEvent({
        method: 'POST',
        path: `/forms/${formId}`,
        resource: '/forms/{formId}',
        pathParameters: { formId },
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      }),
      context,
    );
    expect(res.statusCode).toBe(202);
    const { leadId } = JSON.parse(res.body) as { leadId: string };
    await scorePendingEvents(
      scoring,
      leadId,
      (await repo.listEvents(leadId)).map((e) => e.eventId),
    );
    return leadId;
  };
  return { post, sent };
}

const confirm = confirmHandler(() => ({ leads: repo, clock, keys }));
const openLink = (method: 'GET' | 'POST', token: string | undefined) =>
  confirm(apiEvent({ method, path: '/confirm', ...(token === undefined ? {} : { query: { token } }) }), context);
const tokenIn = (mail: OutgoingEmail | undefined): string =>
  new URL(mail?.templateData.text.confirmUrl ?? 'https://x/').searchParams.get('token') ?? '';

describe('confirmed opt-in', () => {
  it('consent from a form waits for the link: no track and no mail until one POST confirms it', async () => {
    const { post, sent } = forms({ confirmedOptIn: true });
    const email = uniqueEmail('optin');

    const leadId = await post('newsletter', { email, firstName: 'Ada', consent: 'yes' });
    const pending = await repo.getLead(leadId);
    const page = await openLink('GET', tokenIn(sent[0]));
    const afterGet = await repo.getLead(leadId);
    const confirmed = await openLink('POST', tokenIn(sent[0]));
    const scored = await scorePendingEvents(
      scoring,
      leadId,
      (await repo.listEvents(leadId)).map((e) => e.eventId),
    );

    expect(pending?.consent).toMatchObject({ marketing: true, confirmation: 'pending' });
    expect(pending && isMailable(pending)).toBe(false);
    expect(pending?.nurture).toBeUndefined();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ to: email, templateName: 'leadloop-dev-confirm-subscription--default' });
    expect(sent[0]?.headers.map((h) => h.name)).toEqual(['List-Unsubscribe', 'List-Unsubscribe-Post']);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<form method="post"');
    expect(afterGet?.consent?.confirmation).toBe('pending');
    expect(confirmed.statusCode).toBe(200);
    expect(scored.after?.consent).toMatchObject({ marketing: true, confirmation: 'confirmed', source: 'newsletter' });
    expect(scored.enrollment.start?.track).toBe('newsletter');
  });

  it('refuses forged, expired and unsubscribe tokens with 400 naming the token, and records nothing', async () => {
    const { post, sent } = forms({ confirmedOptIn: true });
    const leadId = await post('newsletter', { email: uniqueEmail('forged'), consent: 'yes' });
    const good = tokenIn(sent[0]);
    const forged = `${good.slice(0, -3)}AAA`;
    const unsubscribe = signUnsubscribeToken(await keys.active(), leadId, new Date('2027-01-01T00:00:00Z'));
    const expired = confirmHandler(() => ({ leads: repo, clock: fixedClock('2026-06-01T00:00:00Z'), keys }));

    const answers = [
      await openLink('POST', forged),
      await openLink('POST', unsubscribe),
      await openLink('GET', undefined),
      await expired(apiEvent({ method: 'POST', path: '/confirm', query: { token: good } }), context),
    ];

    expect(answers.map((a) => a.statusCode)).toEqual([400, 400, 400, 400]);
    expect(answers.map((a) => /token: [a-z ]+/.exec(a.body)?.[0])).toEqual([
      'token: is bad signature',
      'token: is bad signature',
      'token: is required',
      'token: is expired',
    ]);
    expect((await repo.listEvents(leadId)).map((e) => e.type)).toEqual(['newsletter_signup']);
  });

  it('mails one address at most three confirmations a day, however often the form is posted', async () => {
    const { post, sent } = forms({ confirmedOptIn: true });
    const email = uniqueEmail('bomb');

    for (let i = 0; i < 6; i++) await post('newsletter', { email, firstName: `Target ${i}`, consent: 'yes' });

    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((m) => m.to))).toEqual(new Set([email]));
  });

  it('is off for a deployment with documented consent: consent counts at once, no confirmation mail', async () => {
    const { post, sent } = forms({ confirmedOptIn: false });

    const leadId = await post('newsletter', { email: uniqueEmail('documented'), consent: 'yes' });

    expect(sent).toHaveLength(0);
    const lead = await repo.getLead(leadId);
    expect(lead?.consent?.confirmation).toBeUndefined();
    expect(lead && isMailable(lead)).toBe(true);
  });

  it('a site backend cannot confirm consent through POST /events', async () => {
    const result = await ingestEvents({ leads: repo, clock, newLeadId: (at) => ulid(at.getTime()) }, [
      { email: uniqueEmail('api'), type: 'consent_confirmed', properties: { consent: true } },
    ]);

    expect(result).toMatchObject({ accepted: 0, rejected: [{ index: 0, error: expect.stringMatching(/^type: /) }] });
  });
});
