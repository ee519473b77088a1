import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { AwsApiError, type LocalAwsService } from './aws-endpoint.js';
import type { LocalResponse, LocalRouteHandler } from './http-server.js';
import {
  ExecutionAlreadyExistsError,
  ExecutionDoesNotExistError,
  StateMachineDoesNotExistError,
  type LocalStepFunctions,
  type RunRecord,
} from './stepfunctions.js';

/**
 * The Step Functions API of the local runtime, for the calls Leadloop makes (`StartExecution`, `StopExecution`) and
 * the ones a developer inspects runs with (`DescribeExecution`, `ListExecutions`, `GetExecutionHistory`,
 * `ListStateMachines`, `DescribeStateMachine`), in the AWS JSON 1.0 protocol: the SDK adapter
 * (`SfnNurtureStarter`) and the AWS CLI (`--endpoint-url`) work against it unchanged. Plus the runs as a page.
 */

const epochSeconds = (ms: number): number => ms / 1000;

function describe(r: RunRecord) {
  return {
    executionArn: r.executionArn,
    stateMachineArn: r.stateMachineArn,
    name: r.name,
    status: r.status,
    startDate: epochSeconds(r.realStartedAt),
    ...(r.realStoppedAt !== undefined ? { stopDate: epochSeconds(r.realStoppedAt) } : {}),
    input: r.input,
    ...(r.output !== undefined ? { output: JSON.stringify(r.output) } : {}),
    ...(r.error !== undefined ? { error: r.error, cause: r.cause } : {}),
  };
}

/** The run's history in the shape of `GetExecutionHistory` (event types as the console shows them). */
function history(r: RunRecord) {
  return r.history.map((h, i) => {
    const type = h.stateType && h.type.startsWith('State') ? `${h.stateType}${h.type}` : h.type;
    const details = {
      ...(h.state !== undefined ? { name: h.state } : {}),
      ...(h.input !== undefined ? { input: JSON.stringify(h.input) } : {}),
      ...(h.output !== undefined ? { output: JSON.stringify(h.output) } : {}),
      ...(h.error !== undefined ? { error: h.error, cause: h.cause } : {}),
    };
    return { id: i + 1, previousEventId: i, timestamp: epochSeconds(h.realAt), type, details };
  });
}

const Arn = z.object({ executionArn: z.string() });

function operation(runner: LocalStepFunctions, op: string, body: unknown): unknown {
  const run = (arn: string): RunRecord => {
    const r = runner.get(arn);
    if (!r) throw new AwsApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return r;
  };
  switch (op) {
    case 'StartExecution': {
      const req = z
        .object({ stateMachineArn: z.string(), name: z.string().optional(), input: z.string().default('{}') })
        .parse(body);
      const r = runner.startExecution(req.stateMachineArn, req.name ?? randomUUID(), req.input);
      return { executionArn: r.executionArn, startDate: epochSeconds(r.realStartedAt) };
    }
    case 'StopExecution': {
      const r = run(Arn.parse(body).executionArn);
      void runner.stopExecution(r.executionArn);
      return { stopDate: epochSeconds(Date.now()) };
    }
    case 'DescribeExecution':
      return describe(run(Arn.parse(body).executionArn));
    case 'GetExecutionHistory':
      return { events: history(run(Arn.parse(body).executionArn)) };
    case 'ListExecutions': {
      const req = z.object({ stateMachineArn: z.string(), statusFilter: z.string().optional() }).parse(body);
      const executions = runner
        .list()
        .filter(
          (r) => r.stateMachineArn === req.stateMachineArn && (!req.statusFilter || r.status === req.statusFilter),
        )
        .map((r) => ({
          executionArn: r.executionArn,
          stateMachineArn: r.stateMachineArn,
          name: r.name,
          status: r.status,
          startDate: epochSeconds(r.realStartedAt),
          ...(r.realStoppedAt !== undefined ? { stopDate: epochSeconds(r.realStoppedAt) } : {}),
        }));
      return { executions };
    }
    case 'ListStateMachines':
      return {
        stateMachines: runner.stateMachines().map((m) => ({
          stateMachineArn: m.arn,
          name: m.arn.split(':').pop(),
          type: 'STANDARD',
          creationDate: 0,
        })),
      };
    case 'DescribeStateMachine': {
      const arn = z.object({ stateMachineArn: z.string() }).parse(body).stateMachineArn;
      const m = runner.stateMachines().find((s) => s.arn === arn);
      if (!m) throw new AwsApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
      return {
        stateMachineArn: m.arn,
        name: m.arn.split(':').pop(),
        status: 'ACTIVE',
        type: 'STANDARD',
        definition: JSON.stringify(m.definition),
        roleArn: 'arn:aws:iam::000000000000:role/local',
        creationDate: 0,
      };
    }
    default:
      throw new AwsApiError(
        'UnknownOperationException',
        `operation ${op} is not supported by the local Step Functions`,
      );
  }
}

/** The Step Functions API (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<op>`) on the local AWS endpoint. */
export function stepFunctionsService(runner: LocalStepFunctions): LocalAwsService {
  return {
    targetPrefix: 'AWSStepFunctions.',
    protocol: '1.0',
    errorPrefix: 'com.amazonaws.swf.service.v2.model#',
    handle: async (op, body) => {
      try {
        return operation(runner, op, body);
      } catch (e) {
        if (
          e instanceof ExecutionAlreadyExistsError ||
          e instanceof ExecutionDoesNotExistError ||
          e instanceof StateMachineDoesNotExistError
        ) {
          throw new AwsApiError(e.name, e.message);
        }
        throw e;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The runs, for people: a page (or JSON with `?format=json`), and plain text for a terminal.

const esc = (s: unknown): string =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

/** Where a run is now: the last state it entered. */
export const currentState = (r: RunRecord): string =>
  [...r.history].reverse().find((h) => h.type === 'StateEntered')?.state ?? '';

/** One line per run (newest first): for a CLI. */
export function formatRuns(runs: readonly RunRecord[]): string {
  if (runs.length === 0) return 'no nurture runs yet';
  return runs
    .map(
      (r) =>
        `${r.status.padEnd(9)} ${r.track.padEnd(13)} ${r.name}  ${r.startedAt}  ${r.transitions} transitions  @ ${currentState(r)}`,
    )
    .join('\n');
}

/** A run's state history, one line per step, in simulated time: the local counterpart of the console's view. */
export function formatRun(r: RunRecord): string {
  const lines = [
    `${r.name}  track ${r.track}  ${r.status}  started ${r.startedAt}${r.stoppedAt ? `  ended ${r.stoppedAt}` : ''}`,
  ];
  for (const h of r.history) {
    if (h.type === 'StateExited') continue;
    const what =
      h.type === 'StateEntered'
        ? `${h.state}${h.until ? ` (until ${h.until})` : ''}`
        : h.type === 'StateFailed' || h.type === 'ExecutionFailed'
          ? `${h.type} ${h.state ?? ''} ${h.error ?? ''}: ${h.cause ?? ''}`.replace(/\s+/g, ' ')
          : `${h.type}${h.state ? ` ${h.state}` : ''}`;
    lines.push(`  ${h.at}  ${what}`);
  }
  if (r.output !== undefined) lines.push(`  output ${JSON.stringify(r.output)}`);
  return lines.join('\n');
}

const page = (title: string, body: string): LocalResponse => ({
  status: 200,
  headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
  body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>body{font:14px/1.4 system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}code{font-size:12px}.SUCCEEDED{color:#1a7f37}.FAILED{color:#cf222e}.ABORTED{color:#9a6700}.RUNNING{color:#0969da}</style></head><body>${body}</body></html>`,
});

/**
 * `GET <base>` lists the runs; `GET <base>/{name}` shows one run's history. `?format=json` (or `Accept:
 * application/json`) answers JSON. Register it with the local HTTP API at `/_local/runs` and `/_local/runs/{name}`.
 */
export function runsRoute(runner: LocalStepFunctions, base = '/_local/runs'): LocalRouteHandler {
  return (req) => {
    const wantsJson =
      req.query.get('format') === 'json' || String(req.headers.accept ?? '').includes('application/json');
    const name = req.params.name;
    if (name) {
      const r = runner.get(name);
      if (!r) return { status: 404, headers: { 'content-type': 'text/plain' }, body: `no run ${name}` };
      if (wantsJson) return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(r) };
      const rows = r.history
        .filter((h) => h.type !== 'StateExited')
        .map(
          (h) =>
            `<tr><td>${esc(h.at)}</td><td>${esc(h.type)}</td><td>${esc(h.state ?? '')}${h.until ? `<br>until ${esc(h.until)}` : ''}</td><td><code>${esc(
              h.error
                ? `${h.error}: ${h.cause ?? ''}`
                : JSON.stringify(h.type === 'StateEntered' ? h.input : (h.output ?? '')),
            ).slice(0, 600)}</code></td></tr>`,
        )
        .join('');
      return page(
        r.name,
        `<p><a href="${esc(base)}">All runs</a></p><h1>${esc(r.track)}: <span class="${esc(r.status)}">${esc(r.status)}</span></h1><p>${esc(r.name)}<br>started ${esc(r.startedAt)}${r.stoppedAt ? `, ended ${esc(r.stoppedAt)}` : ''} (simulated time), ${r.transitions} state transitions</p><table><tr><th>time</th><th>event</th><th>state</th><th>data</th></tr>${rows}</table>`,
      );
    }
    const runs = runner.list();
    if (wantsJson) {
      const summary = runs.map((r) => ({
        name: r.name,
        track: r.track,
        status: r.status,
        startedAt: r.startedAt,
        stoppedAt: r.stoppedAt,
        transitions: r.transitions,
        currentState: currentState(r),
        executionArn: r.executionArn,
      }));
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(summary) };
    }
    const rows = runs
      .map(
        (r) =>
          `<tr><td class="${esc(r.status)}">${esc(r.status)}</td><td>${esc(r.track)}</td><td><a href="${esc(`${base}/${encodeURIComponent(r.name)}`)}">${esc(r.name)}</a></td><td>${esc(r.startedAt)}</td><td>${esc(currentState(r))}</td><td>${r.transitions}</td></tr>`,
      )
      .join('');
    return page(
      'Nurture runs',
      `<h1>Nurture runs</h1><p>${runs.length} run(s); times are simulated.</p><table><tr><th>status</th><th>track</th><th>execution</th><th>started</th><th>now at</th><th>transitions</th></tr>${rows}</table>`,
    );
  };
}
