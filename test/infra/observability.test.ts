import { Match, type Template } from 'aws-cdk-lib/assertions';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import type { LeadloopStack } from '../../lib/leadloop-stack.js';
import { FUNNEL_STAGES, LEADLOOP_METRICS } from '../../lib/observability.js';
import { logicalIdOf, synthLeadloop } from './synth.js';

let stack: LeadloopStack;
let template: Template;
let dashboard: Dashboard;
beforeAll(() => {
  ({ stack, template } = synthLeadloop({ alarmEmail: 'ops@example.com' }));
  dashboard = dashboardOf(template);
});

const Widget = z.object({
  type: z.string(),
  properties: z.looseObject({ title: z.string().optional(), metrics: z.array(z.array(z.unknown())).optional() }),
});
type Widget = z.infer<typeof Widget>;
const Dashboard = z.object({ widgets: z.array(Widget) });
type Dashboard = z.infer<typeof Dashboard>;
const DashboardBody = z.union([z.string(), z.object({ 'Fn::Join': z.tuple([z.literal(''), z.array(z.unknown())]) })]);

/**
 * The dashboard body as an object: CloudFormation references inside it become `<LogicalId>` (Ref) or
 * `<LogicalId.Attr>` (Fn::GetAtt) strings.
 */
function dashboardOf(t: Template): Dashboard {
  const [resource] = Object.values(t.findResources('AWS::CloudWatch::Dashboard'));
  const body = DashboardBody.parse(resource?.['Properties']['DashboardBody']);
  const parts = typeof body === 'string' ? [body] : body['Fn::Join'][1];
  const text = parts
    .map((p) => {
      if (typeof p === 'string') return p;
      if (p && typeof p === 'object' && 'Ref' in p) return `<${String(p.Ref)}>`;
      if (p && typeof p === 'object' && 'Fn::GetAtt' in p && Array.isArray(p['Fn::GetAtt']))
        return `<${p['Fn::GetAtt'].join('.')}>`;
      throw new Error(`unexpected part of the dashboard body: ${JSON.stringify(p)}`);
    })
    .join('');
  return Dashboard.parse(JSON.parse(text));
}

const widget = (title: string): Widget => {
  const found = dashboard.widgets.find((w) => w.properties.title === title);
  if (!found)
    throw new Error(`no widget "${title}" (have: ${dashboard.widgets.map((w) => w.properties.title).join(', ')})`);
  return found;
};
/** `[namespace, metricName, ...dimensions]` of a widget's plain metrics (hidden ones included). */
const metricsOf = (w: Widget): string[][] =>
  (w.properties.metrics ?? [])
    .map((m) => m.filter((x): x is string => typeof x === 'string'))
    .filter((m) => m.length > 0);
const expressionsOf = (w: Widget): string[] =>
  (w.properties.metrics ?? []).flatMap((m) =>
    m.flatMap((x) =>
      x && typeof x === 'object' && 'expression' in x && typeof x.expression === 'string' ? [x.expression] : [],
    ),
  );
const allMetricNames = (): Set<string> =>
  new Set(dashboard.widgets.flatMap((w) => metricsOf(w).map((m) => m[1] ?? '')));

const alarmTopic = () => ({ Ref: logicalIdOf(stack.observability.alarmTopic) });

describe('Observability: the dashboard', () => {
  it('is named after the stack', () => {
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'Leadloop-test' });
  });

  it('shows the funnel: leads captured and entries of each funnel stage, from the Leadloop namespace', () => {
    expect(metricsOf(widget('Funnel (selected range)'))).toEqual([
      ['Leadloop', 'LeadsCaptured', 'service', 'leadloop'],
      ...FUNNEL_STAGES.map((s) => ['Leadloop', `StageEntered_${s}`, 'service', 'leadloop']),
    ]);
  });

  it('computes the conversions lead → mql → sql → opportunity → customer as metric math', () => {
    const conversions = widget('Conversions (selected range, %)');
    expect(expressionsOf(conversions)).toEqual([
      'IF(lead > 0, 100 * FILL(mql, 0) / lead, 0)',
      'IF(mql > 0, 100 * FILL(sql, 0) / mql, 0)',
      'IF(sql > 0, 100 * FILL(opportunity, 0) / sql, 0)',
      'IF(opportunity > 0, 100 * FILL(customer, 0) / opportunity, 0)',
    ]);
    expect(metricsOf(conversions).map((m) => m[1])).toEqual(
      expect.arrayContaining(FUNNEL_STAGES.map((s) => `StageEntered_${s}`)),
    );
  });

  it('shows the runs of each nurture track (started, succeeded, failed, timed out) and their outcomes', () => {
    for (const [track, machine] of Object.entries(stack.nurture.stateMachines)) {
      const runs = metricsOf(widget(`Nurture runs: ${track}`));
      for (const name of ['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed', 'ExecutionsTimedOut']) {
        expect(runs).toContainEqual(['AWS/States', name, 'StateMachineArn', `<${logicalIdOf(machine)}>`]);
      }
    }
    expect(metricsOf(widget('Nurture outcomes (all tracks)')).map((m) => m[1])).toEqual([
      ...LEADLOOP_METRICS.nurtureOutcomes,
    ]);
  });

  it("shows each track experiment's leads and touches per arm (the EMF counts of the touch tasks)", () => {
    const metrics = metricsOf(widget('Experiment testimonials-2026-1 (testimonials): leads and touches per arm'));
    for (const name of ['ExperimentLeads', 'ExperimentTouches'])
      for (const arm of ['treatment', 'holdout'])
        expect(metrics).toContainEqual(
          expect.arrayContaining([
            'Leadloop',
            name,
            'Track',
            'testimonials',
            'Experiment',
            'testimonials-2026-1',
            'Arm',
            arm,
          ]),
        );
  });

  it('shows every metric of the catalog, and requalification transitions found by SEARCH', () => {
    const names = allMetricNames();
    for (const group of Object.values(LEADLOOP_METRICS)) for (const name of group) expect(names).toContain(name);
    expect(expressionsOf(widget('Requalification transitions per day'))).toEqual([
      `SEARCH('{Leadloop,Transition,service} MetricName="StageTransitions" service="leadloop"', 'Sum', 86400)`,
    ]);
  });

  it('shows every metric the handlers emit (addMetric in lambdas/), by name or by prefix', () => {
    const emitted = emittedMetricNames();
    expect(emitted.literal.length).toBeGreaterThan(10);
    const names = [...allMetricNames()];
    for (const name of emitted.literal.filter((n) => !['StageTransitions', 'SweepActions'].includes(n))) {
      expect(names, name).toContain(name);
    }
    for (const prefix of emitted.prefixes)
      expect(
        names.some((n) => n.startsWith(prefix)),
        prefix,
      ).toBe(true);
  });

  it('has the health widgets: Lambda errors, throttles and duration of every function, DLQ depth, API 4xx/5xx/latency', () => {
    const functionRefs = Object.values(stack.functions()).map((fn) => `<${logicalIdOf(fn)}>`);
    for (const [title, metric] of [
      ['Lambda errors', 'Errors'],
      ['Lambda throttles', 'Throttles'],
      ['Lambda duration (p99, ms)', 'Duration'],
    ] as const) {
      const metrics = metricsOf(widget(title));
      expect(metrics.map((m) => m[3]).sort()).toEqual([...functionRefs].sort());
      expect(new Set(metrics.map((m) => m[1]))).toEqual(new Set([metric]));
    }
    expect(
      metricsOf(widget('Dead-letter queue depth'))
        .map((m) => m[3])
        .sort(),
    ).toEqual(
      [
        stack.scoring.deadLetterQueue,
        stack.engagement.deadLetterQueue,
        stack.leadEvents.deadLetterQueue,
        stack.dataRights.deadLetterQueue,
      ]
        .map((q) => `<${logicalIdOf(q)}.QueueName>`)
        .sort(),
    );
    expect(metricsOf(widget('API errors')).map((m) => m[1])).toEqual(['4XXError', '5XXError']);
    expect(metricsOf(widget('API latency (ms)')).map((m) => m[1])).toEqual(['Latency', 'Latency']);
  });
});

describe('Observability: alarms, all to the alarm topic', () => {
  const alarmsWhere = (properties: Record<string, unknown>) =>
    Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: Match.objectLike(properties) }));

  it('on every dead-letter queue, from the first message', () => {
    for (const queue of [
      stack.scoring.deadLetterQueue,
      stack.engagement.deadLetterQueue,
      stack.dataRights.deadLetterQueue,
    ]) {
      const alarms = alarmsWhere({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(queue), 'QueueName'] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: [alarmTopic()],
      });
      expect(alarms, queue.node.path).toHaveLength(1);
    }
  });

  it('on the errors and the throttles of each function', () => {
    const functions = Object.values(stack.functions());
    expect(functions).toHaveLength(17);
    for (const fn of functions) {
      for (const metric of ['Errors', 'Throttles']) {
        const alarms = alarmsWhere({
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdOf(fn) } }],
          Threshold: 1,
          AlarmActions: [alarmTopic()],
        });
        expect(alarms, `${fn.node.path} ${metric}`).toHaveLength(1);
      }
    }
  });

  it('on failed and on timed-out executions of every state machine', () => {
    const machines = [...Object.values(stack.nurture.stateMachines), stack.requalification.stateMachine];
    expect(machines).toHaveLength(5);
    for (const machine of machines) {
      for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
        const alarms = alarmsWhere({
          Namespace: 'AWS/States',
          MetricName: metric,
          Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: logicalIdOf(machine) } }],
          Threshold: 1,
          AlarmActions: [alarmTopic()],
        });
        expect(alarms, `${machine.node.path} ${metric}`).toHaveLength(1);
      }
    }
  });

  it('on the SES account bounce rate above 5% and complaint rate above 0.1%', () => {
    for (const [metric, threshold] of [
      ['Reputation.BounceRate', 0.05],
      ['Reputation.ComplaintRate', 0.001],
    ] as const) {
      const alarms = alarmsWhere({
        Namespace: 'AWS/SES',
        MetricName: metric,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [alarmTopic()],
      });
      expect(alarms, metric).toHaveLength(1);
    }
  });

  it('every alarm of the stack notifies the topic when it fires and when it recovers', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    // … plus the reputation brake's three (paused, bounce rate, complaint rate).
    expect(alarms).toHaveLength(4 + 17 * 2 + 5 * 2 + 2 + 3);
    for (const alarm of alarms) {
      expect(alarm['Properties']).toMatchObject({ AlarmActions: [alarmTopic()], OKActions: [alarmTopic()] });
    }
  });
});

describe('Observability: the alarm topic', () => {
  it('is encrypted with a rotated customer-managed key that CloudWatch may use', () => {
    const key = logicalIdOf(stack.observability.alarmTopicKey);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
  });

  it("lets CloudWatch use the key only for this account's alarms (aws:SourceAccount)", () => {
    const key = template.findResources('AWS::KMS::Key')[logicalIdOf(stack.observability.alarmTopicKey)];
    const statements = z
      .array(z.object({ Principal: z.unknown(), Condition: z.unknown().optional() }))
      .parse(key?.['Properties']?.['KeyPolicy']?.['Statement']);
    const forCloudWatch = statements.filter(
      (s) => JSON.stringify(s.Principal) === JSON.stringify({ Service: 'cloudwatch.amazonaws.com' }),
    );
    expect(forCloudWatch).toHaveLength(1);
    for (const s of forCloudWatch) {
      expect(s.Condition).toEqual({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } });
    }
  });

  it('accepts TLS only', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [alarmTopic()],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('subscribes the address of context alarmEmail', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: alarmTopic(),
    });
  });
});

/** Metric names passed to `addMetric` in lambdas/: string literals, and the prefixes of template literals. */
function emittedMetricNames(): { literal: string[]; prefixes: string[] } {
  const root = fileURLToPath(new URL('../../lambdas/', import.meta.url));
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const source = files.map((f) => readFileSync(join(root, f), 'utf8')).join('\n');
  const literal = [...source.matchAll(/addMetric\(\s*'([A-Za-z0-9_]+)'/g)].map((m) => m[1] ?? '');
  const prefixes = [...source.matchAll(/addMetric\(\s*`([A-Za-z0-9_]+)\$\{/g)].map((m) => m[1] ?? '');
  return { literal: [...new Set(literal)], prefixes: [...new Set(prefixes)] };
}
