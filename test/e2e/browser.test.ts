import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { signUnsubscribeToken } from '../../lambdas/domain/nurture/unsubscribe-token.js';
import { startLocalStack, type LocalStack } from '../../lib/local/stack.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';

/**
 * The pages people use, in a real browser (issue 17): Debian's Chromium driven by playwright-core against the local
 * stack — the landing page's form without JavaScript (a plain post, the 303 to the thank-you page, the lead stored)
 * and with it (per-field errors from the API's 400), the unsubscribe page (GET shows, the button acts), and the local
 * console (funnel, lead search, a lead's explanation and history, a run drawn as its track). Screenshots are kept in
 * test-artifacts/.
 */

const ARTIFACTS = join(process.cwd(), 'test-artifacts');

let stack: LocalStack;
let plain: TestBrowser;
let scripted: TestBrowser;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [stack, plain, scripted] = await Promise.all([
    startLocalStack({
      port: 0,
      dynamoDbPort: 0,
      sesPort: 0,
      sfnPort: 0,
      inMemory: true,
      pollIntervalMs: 50,
      schedules: false,
      log: () => undefined,
    }),
    launchBrowser({ javaScriptEnabled: false }),
    launchBrowser(),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([plain?.close(), scripted?.close()]);
  await stack?.stop();
});

const LeadView = z.object({ leadId: z.string(), stage: z.string() });
async function leadOf(email: string) {
  await stack.poller.drain();
  const res = await fetch(`${stack.url}/leads?email=${encodeURIComponent(email)}`, {
    headers: { 'x-admin-key': stack.adminKey },
  });
  return res.ok ? LeadView.parse(await res.json()) : undefined;
}

async function fillDemoForm(browser: TestBrowser, email: string) {
  const page = await browser.context.newPage();
  await page.goto(`${stack.url}/`);
  await page.fill('#email', email);
  await page.fill('#firstName', 'Grace');
  await page.fill('#company', 'Navy Labs');
  await page.fill('#jobTitle', 'Director of Engineering');
  return page;
}

describe('the landing page in a browser', () => {
  it('posts the demo form without JavaScript: 303 to the thank-you page, and the lead is stored', async () => {
    const page = await fillDemoForm(plain, 'grace.nojs@navy-labs.example');
    await page.check('input[name="consent"]');

    await Promise.all([
      page.waitForURL(/\/thanks\.html$/),
      page.click('form[action="/forms/demo-request"] button[type="submit"]'),
    ]);
    await page.screenshot({ path: join(ARTIFACTS, 'landing-thanks.png') });

    expect(await page.textContent('h1')).toMatch(/thank/i);
    expect(await leadOf('grace.nojs@navy-labs.example')).toBeDefined();
  });

  it('with JavaScript, shows the API’s per-field errors next to the fields and stores nothing', async () => {
    // The browser accepts `user@host`; the API wants a real domain: the error comes from the 400.
    const page = await fillDemoForm(scripted, 'grace@navy-labs');

    await page.click('form[action="/forms/demo-request"] button[type="submit"]');
    const error = page.locator('#email-error');
    await error.waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'landing-field-error.png') });

    expect(await error.textContent()).toMatch(/Work email is not a valid email address/);
    expect(await page.getAttribute('#email', 'aria-invalid')).toBe('true');
    expect(page.url()).toBe(`${stack.url}/`);
  });

  it('with JavaScript, posts a valid form as JSON and goes on to the thank-you page', async () => {
    const page = await fillDemoForm(scripted, 'grace.js@navy-labs.example');

    await Promise.all([
      page.waitForURL(/\/thanks\.html$/),
      page.click('form[action="/forms/demo-request"] button[type="submit"]'),
    ]);

    expect(await leadOf('grace.js@navy-labs.example')).toBeDefined();
  });
});

describe('the unsubscribe page in a browser', () => {
  it('shows a button on GET, and unsubscribes when it is pressed', async () => {
    const lead = await leadOf('grace.js@navy-labs.example');
    if (!lead) throw new Error('no lead');
    const [secret] = Object.values(stack.deployment.secrets);
    const ring = z.record(z.string(), z.string()).parse(JSON.parse(stack.secrets.current(secret?.arn ?? '')));
    const kid = ring.active ?? '';
    const token = signUnsubscribeToken({ kid, key: ring[kid] ?? '' }, lead.leadId, new Date(Date.now() + 86_400_000));
    const page = await plain.context.newPage();

    await page.goto(`${stack.url}/unsubscribe?token=${encodeURIComponent(token)}`);
    const asked = await page.textContent('h1');
    await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
    await page.waitForSelector('text=You are unsubscribed');

    expect(asked).toMatch(/Unsubscribe from Leadloop emails\?/);
    await stack.poller.drain();
    const res = await fetch(`${stack.url}/leads/${lead.leadId}`, { headers: { 'x-admin-key': stack.adminKey } });
    expect(z.object({ suppression: z.object({ unsubscribed: z.boolean() }) }).parse(await res.json())).toMatchObject({
      suppression: { unsubscribed: true },
    });
  });
});

describe('the local console in a browser', () => {
  it('shows the funnel, finds a lead by address, and explains its score and history', async () => {
    await stack.settle();
    const page = await plain.context.newPage();

    await page.goto(`${stack.url}/_local/`);
    await page.screenshot({ path: join(ARTIFACTS, 'console-funnel.png'), fullPage: true });
    const funnel = await page.textContent('main');
    await page.click('text=Leads');
    await page.fill('input[name="email"]', 'grace.nojs@navy-labs.example');
    await Promise.all([page.waitForURL(/\/_local\/leads\?/), page.click('button[type="submit"]')]);
    await page.click('text=grace.nojs@navy-labs.example');
    await page.screenshot({ path: join(ARTIFACTS, 'console-lead.png'), fullPage: true });

    expect(funnel).toMatch(/captured \(forms\)\s*[1-9]/);
    expect(await page.textContent('h1')).toBe('grace.nojs@navy-labs.example');
    expect(await page.locator('text=Requested a demo').count()).toBeGreaterThan(0);
    expect(await page.locator('ol.timeline li').count()).toBeGreaterThan(0);
  });

  it('draws a nurture run as its track, with where it is now highlighted', async () => {
    const res = await fetch(`${stack.url}/forms/newsletter`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'reader.browser@example-corp.com', consent: 'yes' }),
    });
    expect(res.status).toBe(202);
    await stack.settle();
    // Confirmed opt-in, as the reader does it: the link in the confirmation mail, its page, its button.
    const store = z
      .object({
        emails: z.array(
          z.object({
            destination: z.object({ to: z.array(z.string()) }),
            body: z.object({ text: z.string().optional() }).optional(),
          }),
        ),
      })
      .parse(await (await fetch(`${stack.sesEndpoint}/store`)).json());
    const text = store.emails.find((m) => m.destination.to.includes('reader.browser@example-corp.com'))?.body?.text;
    const link = /(https?:\/\/\S+\/confirm\?token=\S+)/.exec(text ?? '')?.[1];
    if (!link) throw new Error('no confirmation mail');
    const confirm = await plain.context.newPage();
    await confirm.goto(link);
    expect(await confirm.textContent('h1')).toBe('Confirm your subscription');
    await Promise.all([confirm.waitForLoadState(), confirm.click('button')]);
    expect(await confirm.textContent('body')).toMatch(/confirm/i);
    await confirm.screenshot({ path: join(ARTIFACTS, 'confirm.png') });
    await confirm.close();
    await stack.settle();
    const run = stack.stepFunctions.list().find((r) => r.track === 'newsletter' && r.status === 'RUNNING');
    if (!run) throw new Error('no running newsletter run');
    const page = await plain.context.newPage();

    await page.goto(`${stack.url}/_local/runs`);
    await page.click(`text=${run.name}`);
    await page.screenshot({ path: join(ARTIFACTS, 'console-run.png'), fullPage: true });

    expect(await page.locator('svg rect').count()).toBeGreaterThan(10);
    expect(await page.locator('svg rect[stroke="#0969da"]').count()).toBe(1);
    expect(await page.locator('svg text', { hasText: 'Send newsletter 1' }).count()).toBe(1);
  });
});
