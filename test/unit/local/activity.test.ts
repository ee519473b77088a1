import { describe, expect, it } from 'vitest';
import { localActivity, logModeFrom } from '../../../lib/local/activity.js';

const emf = (name: string, value: number) =>
  JSON.stringify({
    _aws: { Timestamp: 0, CloudWatchMetrics: [{ Namespace: 'Leadloop', Dimensions: [[]], Metrics: [{ Name: name }] }] },
    [name]: value,
  });

function quiet() {
  const lines: string[] = [];
  return { lines, activity: localActivity({ log: (l) => lines.push(l), mode: 'quiet' }) };
}

describe('what npm start prints', () => {
  it('is quiet unless LEADLOOP_LOG asks for json or debug', () => {
    expect(logModeFrom({})).toBe('quiet');
    expect(logModeFrom({ LEADLOOP_LOG: 'JSON' })).toBe('json');
    expect(logModeFrom({ LEADLOOP_LOG: 'debug' })).toBe('json');
    expect(logModeFrom({ LEADLOOP_LOG: 'info' })).toBe('quiet');
  });

  it('prints nothing for info lines and metrics, one line for a warning, and masks addresses in it', () => {
    const { lines, activity } = quiet();
    const info = JSON.stringify({ level: 'INFO', message: 'scored', leadId: 'l1' });
    activity.onFunctionLog({ functionName: 'scoring', stream: 'stdout', line: info });
    activity.onFunctionLog({ functionName: 'scoring', stream: 'stdout', line: emf('LeadsScored', 3) });
    activity.onFunctionLog({
      functionName: 'touch',
      stream: 'stdout',
      line: JSON.stringify({ level: 'WARN', message: 'bounce for ada@example.com' }),
    });

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warn in touch: bounce for /);
    expect(lines[0]).not.toContain('ada@example.com');
  });

  it('sums the metrics the functions emit, as the dashboard would', () => {
    const { activity } = quiet();
    activity.onFunctionLog({ functionName: 'a', stream: 'stdout', line: emf('MailsSent', 2) });
    activity.onFunctionLog({ functionName: 'b', stream: 'stdout', line: emf('MailsSent', 1) });

    expect(activity.metrics.get('MailsSent')).toBe(3);
  });

  it('prints one line per accepted form and none for a rejected one', () => {
    const { lines, activity } = quiet();
    activity.onApiResponse({ method: 'POST', resource: '/forms/{formId}', statusCode: 202, body: '{"leadId":"L1"}' });
    activity.onApiResponse({ method: 'POST', resource: '/forms/{formId}', statusCode: 400, body: '{}' });
    activity.onApiResponse({ method: 'GET', resource: '/leads', statusCode: 200, body: '[]' });

    expect(lines).toEqual(['form post accepted: lead L1']);
  });

  it('in json mode passes every function line through as written and adds no summaries', () => {
    const lines: string[] = [];
    const activity = localActivity({ log: (l) => lines.push(l), mode: 'json' });
    const info = JSON.stringify({ level: 'INFO', message: 'scored' });
    activity.onFunctionLog({ functionName: 'scoring', stream: 'stdout', line: info });
    activity.onApiResponse({ method: 'POST', resource: '/forms/{formId}', statusCode: 202, body: '{"leadId":"L1"}' });

    expect(lines).toEqual([info]);
  });
});
