import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scaledClock } from '../../lambdas/domain/clock.js';
import { resolveClockOrigin } from '../../lib/local/clock-origin.js';
import { readSettings, SettingsError } from '../../lib/local/settings.js';

/** What `npm start` reads from the environment, and how its simulated clock carries on across restarts. */

const dirs: string[] = [];
const tempFile = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), 'leadloop-settings-'));
  dirs.push(d);
  return join(d, name);
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('settings', () => {
  it('has documented defaults', () => {
    const s = readSettings({}, '/work');

    expect(s).toEqual({
      port: 3000,
      dynamoDbPort: 8000,
      sesPort: 8005,
      sfnPort: 8083,
      apiKey: 'dev-api-key',
      adminKey: 'dev-admin-key',
      daySeconds: 86_400,
      dataDir: '/work/.leadloop',
      allowedOrigins: undefined,
      salesWebhookUrl: undefined,
      salesWebhookAuth: undefined,
    });
  });

  it('reads every variable', () => {
    const s = readSettings(
      {
        PORT: '4000',
        DYNAMODB_PORT: '9000',
        SES_PORT: '9005',
        SFN_PORT: '9083',
        LEADLOOP_API_KEY: 'k',
        LEADLOOP_ADMIN_KEY: 'a',
        LEADLOOP_DAY_SECONDS: '60',
        LEADLOOP_DATA_DIR: 'data',
        ALLOWED_ORIGINS: 'https://a.example, https://b.example',
        LEADLOOP_SALES_WEBHOOK_URL: 'https://hooks.example.com/leads',
        LEADLOOP_SALES_WEBHOOK_AUTH: 'Authorization: Bearer s3cret',
      },
      '/work',
    );

    expect(s).toMatchObject({
      port: 4000,
      dynamoDbPort: 9000,
      sesPort: 9005,
      apiKey: 'k',
      adminKey: 'a',
      daySeconds: 60,
    });
    expect(s.dataDir).toBe('/work/data');
    expect(s.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(s.salesWebhookUrl).toBe('https://hooks.example.com/leads');
    expect(s.salesWebhookAuth).toEqual({ header: 'Authorization', value: 'Bearer s3cret' });
  });

  it('keeps no data dir in memory', () => {
    expect(readSettings({ LEADLOOP_IN_MEMORY: '1' }).dataDir).toBeUndefined();
  });

  it('names the variable that is wrong', () => {
    expect(() => readSettings({ PORT: '70000' })).toThrow(
      new SettingsError('PORT must be a port number from 1 to 65535 (got "70000")'),
    );
    expect(() => readSettings({ SES_PORT: 'x' })).toThrow(/^SES_PORT/);
    expect(() => readSettings({ LEADLOOP_DAY_SECONDS: '0' })).toThrow(/LEADLOOP_DAY_SECONDS must be a positive number/);
    expect(() => readSettings({ PORT: '8000' })).toThrow(/must differ/);
    expect(() => readSettings({ LEADLOOP_SALES_WEBHOOK_URL: 'ftp://x' })).toThrow(/LEADLOOP_SALES_WEBHOOK_URL/);
    expect(() => readSettings({ LEADLOOP_SALES_WEBHOOK_AUTH: 'token' })).toThrow(/Header-Name: value/);
  });
});

describe('clock origin', () => {
  const at = (iso: string) => new Date(iso);

  it('is now on the first run, and the saved origin on the next runs', () => {
    const file = tempFile('clock.json');

    const first = resolveClockOrigin({ file, daySeconds: 60, now: at('2030-01-01T00:00:00Z') });
    const second = resolveClockOrigin({ file, daySeconds: 60, now: at('2030-01-01T01:00:00Z') });

    expect(first.origin.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(second.origin.toISOString()).toBe('2030-01-01T00:00:00.000Z');
  });

  it('keeps simulated time continuous when the speed changes between runs', () => {
    const file = tempFile('clock.json');
    resolveClockOrigin({ file, daySeconds: 60, now: at('2030-01-01T00:00:00Z') });
    const restart = at('2030-01-01T00:10:00Z');
    const before = scaledClock(60, at('2030-01-01T00:00:00Z'), () => restart.getTime()).now();

    const { origin } = resolveClockOrigin({ file, daySeconds: 600, now: restart });
    const after = scaledClock(600, origin, () => restart.getTime()).now();
    const again = resolveClockOrigin({ file, daySeconds: 600, now: restart });

    expect(Math.abs(after.getTime() - before.getTime())).toBeLessThan(1_000);
    expect(again.origin.getTime()).toBe(origin.getTime());
  });

  it('says so when simulated time ahead of real time cannot be kept at real speed', () => {
    const file = tempFile('clock.json');
    resolveClockOrigin({ file, daySeconds: 60, now: at('2030-01-01T00:00:00Z') });

    const result = resolveClockOrigin({ file, daySeconds: 86_400, now: at('2030-01-01T00:10:00Z') });

    expect(result.origin.toISOString()).toBe('2030-01-01T00:10:00.000Z');
    expect(result.note).toMatch(/real time again/);
  });

  it('starts afresh, with a note, from an unreadable file', () => {
    const file = tempFile('clock.json');
    writeFileSync(file, 'not json');

    const result = resolveClockOrigin({ file, daySeconds: 60, now: at('2030-01-01T00:00:00Z') });

    expect(result.origin.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(result.note).toMatch(/unreadable/);
  });
});
