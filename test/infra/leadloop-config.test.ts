import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS, readConfig } from '../../lib/leadloop-config.js';
import { stackNameFor } from '../../lib/leadloop-stack.js';

const configOf = (context: Record<string, unknown>) => readConfig(new App({ context }).node);

describe('readConfig (the context keys of the app)', () => {
  it('defaults to a retained dev stage for http://localhost:3000 sending as leadloop@example.com, without WAF', () => {
    expect(configOf({})).toEqual({
      stage: 'dev',
      allowedOrigins: ['http://localhost:3000'],
      senderEmail: 'leadloop@example.com',
      destroyOnRemoval: false,
      siteUrl: 'http://localhost:3000',
      waf: false,
      confirmedOptIn: true,
    });
    expect(CONFIG_DEFAULTS.stage).toBe('dev');
  });

  it('reads a comma-separated origin list (from -c) or a list (from cdk.json), trimmed', () => {
    expect(configOf({ allowedOrigins: ' https://a.example.com, https://b.example.com:8443 ,' }).allowedOrigins).toEqual(
      ['https://a.example.com', 'https://b.example.com:8443'],
    );
    expect(configOf({ allowedOrigins: ['https://a.example.com'] }).allowedOrigins).toEqual(['https://a.example.com']);
  });

  it('reads destroyOnRemoval as a boolean or as the strings true/false', () => {
    expect(configOf({ destroyOnRemoval: 'true' }).destroyOnRemoval).toBe(true);
    expect(configOf({ destroyOnRemoval: true }).destroyOnRemoval).toBe(true);
    expect(configOf({ destroyOnRemoval: 'false' }).destroyOnRemoval).toBe(false);
  });

  it('normalizes the sender address and names the stack after the stage', () => {
    const config = configOf({ stage: 'prod', senderEmail: ' News@Example.COM ' });
    expect(config.senderEmail).toBe('news@example.com');
    expect(stackNameFor(config.stage)).toBe('Leadloop-prod');
  });

  it('links mail to the first allowed origin unless siteUrl says otherwise', () => {
    expect(configOf({ allowedOrigins: 'https://www.example.com,https://lp.example.com' }).siteUrl).toBe(
      'https://www.example.com',
    );
    expect(configOf({ allowedOrigins: 'https://lp.example.com', siteUrl: 'https://www.example.com/' }).siteUrl).toBe(
      'https://www.example.com/',
    );
  });

  it('reads the optional alarm address, mailing address and WAF flag', () => {
    const config = configOf({
      alarmEmail: ' Ops@Example.com ',
      mailingAddress: ' 1 Main St, Springfield ',
      waf: 'true',
    });
    expect(config).toMatchObject({
      alarmEmail: 'ops@example.com',
      mailingAddress: '1 Main St, Springfield',
      waf: true,
    });
    expect(configOf({ waf: false }).waf).toBe(false);
    expect('alarmEmail' in configOf({})).toBe(false);
  });

  it.each([
    [{ siteUrl: 'www.example.com' }, /context "siteUrl" must be an http\(s\) URL/],
    [{ siteUrl: 'ftp://example.com' }, /context "siteUrl"/],
    [{ alarmEmail: 'ops' }, /context "alarmEmail" is not a valid email address/],
    [{ mailingAddress: '  ' }, /context "mailingAddress" must not be empty/],
    [{ waf: 'on' }, /context "waf"/],
    [{ allowedOrigins: 'https://example.com/path' }, /context "allowedOrigins.0" must be an origin/],
    [{ allowedOrigins: '*' }, /allowedOrigins/],
    [{ allowedOrigins: 'ftp://example.com' }, /allowedOrigins/],
    [{ allowedOrigins: ' , ' }, /context "allowedOrigins" must name at least one origin/],
    [{ stage: 'staging' }, /context "stage"/],
    [{ senderEmail: 'not-an-address' }, /context "senderEmail" is not a valid email address/],
    [{ destroyOnRemoval: 'yes' }, /context "destroyOnRemoval"/],
  ])('rejects %j, naming the key', (context, message) => {
    expect(() => configOf(context)).toThrow(message);
  });
});
