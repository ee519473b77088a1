import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { QueryCommand, ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import type { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { keys, TABLE } from '../../lambdas/adapters/table-definition.js';
import { Lead, STAGES, type Stage } from '../../lambdas/domain/lead.js';
import { FUNNEL_STAGES } from '../observability.js';
import type { Activity } from './activity.js';
import type { SesLoopback } from './adapters/ses-loopback.js';
import type { LocalRequest, LocalResponse, LocalRouteHandler } from './http-server.js';
import type { AslDefinition, LocalStepFunctions, RunRecord } from './stepfunctions.js';

/**
 * The local console at `/_local/` (issue 17): what a marketer watches, as the CloudWatch dashboard and the Step
 * Functions console show it on AWS — the funnel (the same metrics the dashboard sums), the leads with their score
 * explanations and stage histories, each nurture run drawn as its track with where it is, the requalification sweeps,
 * and the model-lab and experiment reports. Server-rendered HTML that works without JavaScript; every value escaped.
 */

export interface ConsoleDeps {
  doc: DynamoDBDocumentClient;
  repository: DynamoLeadRepository;
  tableName: string;
  stepFunctions: LocalStepFunctions;
  requalificationArn: string;
  activity: Activity;
  ses: SesLoopback;
  sesEndpoint: string;
  /** Where `--html` reports are kept (`<data dir>/reports`), if anywhere. */
  reportsDir: string | undefined;
  clock: { now(): Date };
}

export const esc = (s: unknown): string =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const STYLE = `body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#1f6f5c;color:#fff;padding:.6rem 1.5rem;display:flex;gap:1.5rem;align-items:baseline;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header strong{font-size:1.1rem;margin-right:1rem}main{padding:1rem 1.5rem;max-width:82rem}
table{border-collapse:collapse;background:#fff;margin:.5rem 0 1.5rem}td,th{padding:.3rem .7rem;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.n,th.n{text-align:right}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.75rem 1rem;margin:.5rem 0}
form.filters{display:flex;gap:.75rem;flex-wrap:wrap;align-items:end;background:#fff;padding:.75rem;border:1px solid #d0d7de;border-radius:6px}
form.filters label{display:flex;flex-direction:column;font-size:.85rem}input,select,button{font:inherit;padding:.25rem .4rem}
.timeline{list-style:none;padding:0;border-left:3px solid #1f6f5c;margin-left:.5rem}.timeline li{margin:.4rem 0 .4rem 1rem}
.muted{color:#656d76}.SUCCEEDED{color:#1a7f37}.FAILED{color:#cf222e}.ABORTED{color:#9a6700}.RUNNING{color:#0969da}
code{font-size:12px}svg text{font:12px system-ui,sans-serif}`;

function page(title: string, body: string, status = 200): LocalResponse {
  return {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy':
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'",
      'x-content-type-options': 'nosniff',
    },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)} · Leadloop console</title><style>${STYLE}</style></head><body><header><strong>Leadloop console</strong><a href="/_local/">Funnel</a><a href="/_local/leads">Leads</a><a href="/_local/runs">Nurture runs</a><a href="/_local/sweeps">Sweeps</a><a href="/_local/reports">Reports</a><a href="/_local/openapi.json">API</a><a href="/">Landing page</a></header><main>${body}</main></body></html>`,
  };
}

const notFound = (what: string) => page('Not found', `<h1>Not found</h1><p>${esc(what)}</p>`, 404);
const fmt = (n: number | undefined, digits = 1) => (n === undefined ? '–' : n.toFixed(digits));
const when = (iso: string | undefined) => (iso ? esc(iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')) : '–');

/** Leads now in a stage (a count on the by-stage index). */
async function countInStage(deps: ConsoleDeps, stage: Stage): Promise<number> {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const out = await deps.doc.send(
      new QueryCommand({
        TableName: deps.tableName,
        IndexName: TABLE.byStageIndex.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': TABLE.byStageIndex.partitionKey },
        ExpressionAttributeValues: { ':pk': keys.stageIndex(stage) },
        Select: 'COUNT',
        ExclusiveStartKey: start,
      }),
    );
    count += out.Count ?? 0;
    start = out.LastEvaluatedKey;
  } while (start);
  return count;
}

async function overview(deps: ConsoleDeps): Promise<LocalResponse> {
  const m = deps.activity.metrics;
  const entered = (stage: string) => m.get(`StageEntered_${stage}`) ?? 0;
  const captured = m.get('LeadsCaptured') ?? 0;
  const funnelRows = FUNNEL_STAGES.map((stage, i) => {
    const prev = i === 0 ? captured : entered(FUNNEL_STAGES[i - 1] ?? '');
    const n = entered(stage);
    const rate = prev > 0 ? `${((100 * n) / prev).toFixed(1)}%` : '–';
    return `<tr><td>${esc(stage)}</td><td class="n">${n}</td><td class="n">${rate}</td></tr>`;
  }).join('');
  const now = await Promise.all(STAGES.map(async (s) => [s, await countInStage(deps, s)] as const));
  const nowRows = now
    .map(([s, n]) => `<tr><td><a href="/_local/leads?stage=${esc(s)}">${esc(s)}</a></td><td class="n">${n}</td></tr>`)
    .join('');
  const runs = deps.stepFunctions.list().filter((r) => r.stateMachineArn !== deps.requalificationArn);
  const byStatus = (s: string) => runs.filter((r) => r.status === s).length;
  return page(
    'Funnel',
    `<h1>Funnel</h1><p class="muted">Since this stack started, from the functions' own metrics (the figures the CloudWatch dashboard sums); simulated time ${when(deps.clock.now().toISOString())}.</p>
<table><tr><th>stage</th><th class="n">entered</th><th class="n">conversion from the stage before</th></tr><tr><td>captured (forms)</td><td class="n">${captured}</td><td class="n"></td></tr>${funnelRows}</table>
<h2>Leads now, by stage</h2><table><tr><th>stage</th><th class="n">leads</th></tr>${nowRows}</table>
<h2>Nurture runs</h2><p><a href="/_local/runs">${runs.length} run(s)</a>: ${byStatus('RUNNING')} running, ${byStatus('SUCCEEDED')} succeeded, ${byStatus('FAILED')} failed, ${byStatus('ABORTED')} stopped. Mail sent: ${deps.ses.sent.length} (<a href="${esc(deps.sesEndpoint)}">local SES</a>).</p>`,
  );
}

const LeadFilters = z.object({
  email: z.string().trim().toLowerCase().optional(),
  stage: z.enum(STAGES).optional(),
  grade: z.enum(['A', 'B', 'C', 'D', 'E', 'F']).optional(),
  minFit: z.coerce.number().optional(),
  minEngagement: z.coerce.number().optional(),
  activeDays: z.coerce.number().positive().optional(),
});

async function leads(deps: ConsoleDeps, req: LocalRequest): Promise<LocalResponse> {
  const raw = Object.fromEntries([...req.query.entries()].filter(([, v]) => v !== ''));
  const parsed = LeadFilters.safeParse(raw);
  const f = parsed.success ? parsed.data : {};
  const since = f.activeDays ? deps.clock.now().getTime() - f.activeDays * 86_400_000 : undefined;
  const matches = (l: Lead): boolean =>
    (!f.email || l.email.includes(f.email.replaceAll('*', ''))) &&
    (!f.stage || l.stage === f.stage) &&
    (!f.grade || l.scores?.grade === f.grade) &&
    (f.minFit === undefined || (l.scores?.fit ?? 0) >= f.minFit) &&
    (f.minEngagement === undefined || (l.scores?.engagement ?? 0) >= f.minEngagement) &&
    (since === undefined || Date.parse(l.lastActivityAt) >= since);
  const found: Lead[] = [];
  if (f.email && !f.email.includes('*') && f.email.includes('@')) {
    const id = await deps.repository.findLeadIdByEmail(f.email);
    const lead = id ? await deps.repository.getLead(id) : undefined;
    if (lead) found.push(lead);
  } else {
    // The whole table is scanned and filtered as it is read (a local table: thousands of leads, not millions), so a
    // search finds every match however many leads there are; only the rows shown are capped below.
    let start: Record<string, unknown> | undefined;
    do {
      const out = await deps.doc.send(
        new ScanCommand({
          TableName: deps.tableName,
          FilterExpression: 'sk = :lead',
          ExpressionAttributeValues: { ':lead': 'LEAD' },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        const lead = Lead.safeParse(item);
        if (lead.success && matches(lead.data)) found.push(lead.data);
      }
      start = out.LastEvaluatedKey;
    } while (start);
  }
  const rows = found
    .filter(matches)
    .sort((a, b) => b.lastActivityAt.localeCompare(a.lastActivityAt))
    .slice(0, 200);
  const option = (v: string, current: string | undefined) =>
    `<option value="${esc(v)}"${v === current ? ' selected' : ''}>${esc(v || 'any')}</option>`;
  const body = rows
    .map(
      (l) =>
        `<tr><td><a href="/_local/leads/${esc(encodeURIComponent(l.leadId))}">${esc(l.email)}</a></td><td>${esc([l.profile.firstName, l.profile.lastName].filter(Boolean).join(' '))}</td><td>${esc(l.profile.company)}</td><td>${esc(l.stage)}</td><td>${esc(l.scores?.grade ?? '–')}</td><td class="n">${fmt(l.scores?.fit, 0)}</td><td class="n">${fmt(l.scores?.engagement)}</td><td>${when(l.lastActivityAt)}</td></tr>`,
    )
    .join('');
  return page(
    'Leads',
    `<h1>Leads</h1><form class="filters" method="get" action="/_local/leads">
<label>Address <input name="email" value="${esc(f.email ?? '')}" placeholder="ada@example.com or part of it"></label>
<label>Stage <select name="stage">${['', ...STAGES].map((s) => option(s, f.stage)).join('')}</select></label>
<label>Grade <select name="grade">${['', 'A', 'B', 'C', 'D', 'E', 'F'].map((g) => option(g, f.grade)).join('')}</select></label>
<label>Fit at least <input name="minFit" type="number" value="${esc(f.minFit ?? '')}" size="5"></label>
<label>Engagement at least <input name="minEngagement" type="number" value="${esc(f.minEngagement ?? '')}" size="5"></label>
<label>Active within (days) <input name="activeDays" type="number" value="${esc(f.activeDays ?? '')}" size="5"></label>
<button type="submit">Search</button></form>
${parsed.success ? '' : `<p class="FAILED">Some filters were not understood and were ignored.</p>`}
<p class="muted">${rows.length} lead(s)${rows.length === 200 ? ' (the 200 most recently active)' : ''}.</p>
<table><tr><th>address</th><th>name</th><th>company</th><th>stage</th><th>grade</th><th class="n">fit</th><th class="n">engagement</th><th>last activity</th></tr>${body}</table>`,
  );
}

async function leadPage(deps: ConsoleDeps, leadId: string): Promise<LocalResponse> {
  const lead = await deps.repository.getLead(leadId);
  if (!lead) return notFound(`no lead ${leadId}`);
  const [history, events] = await Promise.all([
    deps.repository.stageHistory(leadId),
    deps.repository.listEvents(leadId),
  ]);
  const s = lead.scores;
  const explanation = (s?.contributions ?? [])
    .map(
      (c) =>
        `<tr><td>${esc(c.label)}<br><span class="muted"><code>${esc(c.ruleId)}</code></span></td><td>${esc(c.kind)}${c.intent ? ` (${esc(c.intent)} intent)` : ''}</td><td class="n">${fmt(c.points)}</td><td>${when(c.at)}</td><td class="n">${c.kind === 'engagement' ? fmt(c.decayedPoints ?? c.points, 2) : ''}</td></tr>`,
    )
    .join('');
  const timeline = [...history]
    .sort((a, b) => a.at.localeCompare(b.at))
    .map(
      (t) =>
        `<li><strong>${esc(t.from ?? 'new')} → ${esc(t.to)}</strong> <span class="muted">${when(t.at)}</span><br>${esc(t.disqualification ? `${t.reason} (${t.disqualification})` : t.reason)} <span class="muted">— <code>${esc(t.rule)}</code></span></li>`,
    )
    .join('');
  const eventRows = [...events]
    .sort((a, b) => b.occurredAt.localeCompare(a.occurredAt))
    .slice(0, 200)
    .map((e) => {
      const props = Object.entries(e.properties)
        .filter(([k]) => !['firstName', 'lastName', 'phone', 'email'].includes(k))
        .slice(0, 6)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ');
      return `<tr><td>${when(e.occurredAt)}</td><td>${esc(e.type)}</td><td>${esc(e.source)}</td><td><code>${esc(props.slice(0, 160))}</code></td></tr>`;
    })
    .join('');
  const mails = deps.ses.sent
    .filter((m) => m.tags.leadId === leadId)
    .map(
      (m) =>
        `<tr><td>${when(m.at)}</td><td>${esc(m.subject)}</td><td>${esc(m.tags.track ?? '')} ${esc(m.tags.touch ?? '')}</td><td>${esc(m.tags.variant ?? '')}</td><td><code>${esc(m.messageId.slice(0, 16))}…</code></td></tr>`,
    )
    .join('');
  const n = lead.nurture;
  const profile = Object.entries({ ...lead.profile, ...lead.bant })
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
    .join('');
  return page(
    lead.email,
    `<h1>${esc(lead.email)}</h1>
<div class="card">Stage <strong>${esc(lead.stage)}</strong> (${esc(lead.disqualification ?? lead.stageReason)}) since ${when(lead.stageChangedAt)} ·
grade <strong>${esc(s?.grade ?? '–')}</strong> · fit ${fmt(s?.fit, 0)} · engagement ${fmt(s?.engagement)} · total ${fmt(s?.total)} (scored ${when(s?.scoredAt)}) ·
last activity ${when(lead.lastActivityAt)}${lead.suppression.unsubscribed || lead.suppression.hardBounced || lead.suppression.complained ? ' · <span class="FAILED">suppressed</span>' : ''}</div>
<table>${profile}</table>
<h2>Why this score</h2><table><tr><th>rule</th><th>kind</th><th class="n">points</th><th>when</th><th class="n">decayed value</th></tr>${explanation || '<tr><td colspan="5" class="muted">not scored yet</td></tr>'}</table>
<h2>Stage history</h2><ol class="timeline">${timeline || '<li class="muted">no stage change yet</li>'}</ol>
<h2>Nurture</h2>${n ? `<p>Track <strong>${esc(n.track)}</strong>${n.arm ? ` (${n.arm === 'holdout' ? 'held out: no mail' : 'treatment'} in experiment ${esc(n.experimentId ?? '')}, <a href="/_local/reports">reports</a>)` : ''}, ${esc(n.status)}, ${n.touchesSent} touch(es) sent${n.nextTouchAt ? `, next around ${when(n.nextTouchAt)}` : ''}. <a href="/_local/runs/${esc(encodeURIComponent(n.executionName))}">See the run</a>.</p>` : '<p class="muted">Not enrolled.</p>'}
<h2>Mail sent</h2><table><tr><th>sent</th><th>subject</th><th>track, touch</th><th>variant</th><th>message</th></tr>${mails || '<tr><td colspan="5" class="muted">none since this stack started</td></tr>'}</table><p class="muted">Read them in <a href="${esc(deps.sesEndpoint)}">local SES</a>.</p>
<h2>Events</h2><table><tr><th>when</th><th>type</th><th>source</th><th>properties</th></tr>${eventRows}</table>`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// A run drawn as its track

interface Node {
  name: string;
  type: string;
  rank: number;
  col: number;
}

/** The states a state goes to next: Next, Choice branches and Default (and, apart, its Catch handlers). */
function successors(state: Record<string, unknown>, withCatch = false): string[] {
  const out: string[] = [];
  if (typeof state.Next === 'string') out.push(state.Next);
  if (Array.isArray(state.Choices)) for (const c of state.Choices) if (typeof c?.Next === 'string') out.push(c.Next);
  if (typeof state.Default === 'string') out.push(state.Default);
  if (withCatch && Array.isArray(state.Catch))
    for (const c of state.Catch) if (typeof c?.Next === 'string') out.push(c.Next);
  return [...new Set(out)];
}

/**
 * A drawing of a definition as the console shows a run: the track's states top to bottom in the order a run meets
 * them (breadth-first from StartAt, along Next and Choice branches), the endings and the failure path in a column of
 * their own on the right, the run's path in green, where it is now in blue, a failure in red. Catch edges are drawn
 * only when the run took one.
 */
export function trackGraph(definition: AslDefinition, run: RunRecord | undefined): string {
  const states = definition.States;
  const next = (name: string) => successors(states[name] ?? {}).filter((n) => states[n]);
  // Longest path to an end, loops cut: first find the back edges (a depth-first walk from StartAt), then the heights
  // over what is left. The spine follows, at each state, its successor with the most ahead of it.
  const back = new Set<string>();
  const seen = new Set<string>();
  const stack = new Set<string>();
  const walk = (name: string) => {
    seen.add(name);
    stack.add(name);
    for (const n of next(name)) {
      if (stack.has(n)) back.add(`${name}→${n}`);
      else if (!seen.has(n)) walk(n);
    }
    stack.delete(name);
  };
  walk(definition.StartAt);
  const forward = (name: string) => next(name).filter((n) => !back.has(`${name}→${n}`));
  const height = new Map<string, number>();
  const heightOf = (name: string): number => {
    const known = height.get(name);
    if (known !== undefined) return known;
    const h = 1 + Math.max(0, ...forward(name).map(heightOf));
    height.set(name, h);
    return h;
  };
  const spine: string[] = [];
  for (let at: string | undefined = definition.StartAt; at && !spine.includes(at);) {
    spine.push(at);
    at = [...forward(at)].sort((x, y) => heightOf(y) - heightOf(x))[0];
  }
  // What many states lead to (the endings, the failure path, the hand-off) gets a column of its own on the right.
  const referrers = new Map<string, number>();
  for (const name of Object.keys(states)) {
    for (const n of successors(states[name] ?? {}, true)) referrers.set(n, (referrers.get(n) ?? 0) + 1);
  }
  const shared = Object.keys(states).filter((n) => !spine.includes(n) && (referrers.get(n) ?? 0) >= 3);
  const nodes = new Map<string, Node>();
  spine.forEach((name, row) => nodes.set(name, { name, type: String(states[name]?.Type ?? ''), rank: row, col: 0 }));
  const taken = new Set(spine.map((_, row) => `${row}:0`));
  let mainCols = 1;
  for (const [row, name] of spine.entries()) {
    for (const n of next(name)) {
      if (nodes.has(n) || shared.includes(n)) continue;
      let col = 1;
      while (taken.has(`${row}:${col}`)) col++;
      taken.add(`${row}:${col}`);
      mainCols = Math.max(mainCols, col + 1);
      nodes.set(n, { name: n, type: String(states[n]?.Type ?? ''), rank: row, col });
    }
  }
  const rest = Object.keys(states).filter((n) => !nodes.has(n) && !shared.includes(n));
  const sideColumn = [...shared, ...rest];
  sideColumn.forEach((name, i) =>
    nodes.set(name, { name, type: String(states[name]?.Type ?? ''), rank: i * 2, col: mainCols }),
  );
  const W = 220;
  const H = 32;
  const GX = 40;
  const GY = 22;
  const x = (n: Node) => 10 + n.col * (W + GX) + (n.col === mainCols ? 20 : 0);
  const y = (n: Node) => 10 + n.rank * (H + GY);
  const width = 40 + (mainCols + 1) * (W + GX);
  const svgHeight = 20 + Math.max(spine.length, sideColumn.length * 2) * (H + GY);
  const history = run?.history ?? [];
  const entered = history.filter((h) => h.type === 'StateEntered').map((h) => h.state ?? '');
  const visited = new Set(entered);
  const steps = new Set(entered.slice(1).map((to, i) => `${entered[i] ?? ''}→${to}`));
  const current =
    run?.status === 'RUNNING' ? [...history].reverse().find((h) => h.type === 'StateEntered')?.state : undefined;
  const failed = new Set(history.filter((h) => h.type === 'StateFailed').map((h) => h.state ?? ''));
  const edges: string[] = [];
  for (const from of nodes.values()) {
    const normal = new Set(successors(states[from.name] ?? {}));
    for (const toName of successors(states[from.name] ?? {}, true)) {
      const to = nodes.get(toName);
      if (!to) continue;
      const taken = steps.has(`${from.name}→${to.name}`);
      if (!normal.has(toName) && !taken) continue;
      const color = taken ? (normal.has(toName) ? '#1a7f37' : '#cf222e') : '#c4cbd3';
      let path: string;
      if (to.col === mainCols && from.col !== mainCols) {
        path = `M${x(from) + W},${y(from) + H / 2} L${x(to)},${y(to) + H / 2}`;
      } else if (to.rank > from.rank) {
        const x1 = x(from) + W / 2;
        const x2 = x(to) + W / 2;
        path = `M${x1},${y(from) + H} C${x1},${y(from) + H + GY / 2} ${x2},${y(to) - GY / 2} ${x2},${y(to)}`;
      } else {
        // A loop back (waiting for the send window): around the left side.
        path = `M${x(from)},${y(from) + H / 2} C${x(from) - 30},${y(from) + H / 2} ${x(to) - 30},${y(to) + H / 2} ${x(to)},${y(to) + H / 2}`;
      }
      edges.push(
        `<path d="${path}" fill="none" stroke="${color}" stroke-width="${taken ? 2.2 : 1}" marker-end="url(#arrow)"/>`,
      );
    }
  }
  const boxes = [...nodes.values()].map((n) => {
    const state = n.name === current ? 'now' : failed.has(n.name) ? 'failed' : visited.has(n.name) ? 'visited' : 'idle';
    const fill = { now: '#ddf4ff', failed: '#ffebe9', visited: '#dafbe1', idle: '#ffffff' }[state];
    const stroke = { now: '#0969da', failed: '#cf222e', visited: '#1a7f37', idle: '#8c959f' }[state];
    const label = n.name.length > 34 ? `${n.name.slice(0, 33)}…` : n.name;
    return `<g><title>${esc(`${n.name} (${n.type})`)}</title><rect x="${x(n)}" y="${y(n)}" width="${W}" height="${H}" rx="${n.type === 'Choice' ? 16 : 5}" fill="${fill}" stroke="${stroke}" stroke-width="${state === 'now' ? 3 : 1.2}" data-state="${state}"/><text x="${x(n) + W / 2}" y="${y(n) + H / 2 + 4}" text-anchor="middle">${esc(label)}</text></g>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${svgHeight}" viewBox="-30 0 ${width + 30} ${svgHeight}" role="img" aria-label="state machine graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6e7781"/></marker></defs>${edges.join('')}${boxes.join('')}</svg>`;
}

function runsPage(deps: ConsoleDeps): LocalResponse {
  const runs = deps.stepFunctions.list().filter((r) => r.stateMachineArn !== deps.requalificationArn);
  const rows = runs
    .slice(0, 300)
    .map((r) => {
      const at = [...r.history].reverse().find((h) => h.type === 'StateEntered')?.state ?? '';
      return `<tr><td class="${esc(r.status)}">${esc(r.status)}</td><td>${esc(r.track)}</td><td><a href="/_local/runs/${esc(encodeURIComponent(r.name))}">${esc(r.name)}</a></td><td>${when(r.startedAt)}</td><td>${esc(at)}</td><td class="n">${r.transitions}</td></tr>`;
    })
    .join('');
  return page(
    'Nurture runs',
    `<h1>Nurture runs</h1><p class="muted">${runs.length} run(s), newest first; times are simulated.</p><table><tr><th>status</th><th>track</th><th>execution</th><th>started</th><th>now at</th><th class="n">transitions</th></tr>${rows}</table>`,
  );
}

function runPage(deps: ConsoleDeps, name: string): LocalResponse {
  const run = deps.stepFunctions.get(name);
  if (!run) return notFound(`no run ${name}`);
  const machine = deps.stepFunctions.stateMachines().find((m) => m.arn === run.stateMachineArn);
  const rows = run.history
    .filter((h) => h.type !== 'StateExited')
    .map(
      (h) =>
        `<tr><td>${when(h.at)}</td><td>${esc(h.type)}</td><td>${esc(h.state ?? '')}${h.until ? `<br><span class="muted">until ${when(h.until)}</span>` : ''}</td><td><code>${esc((h.error ? `${h.error}: ${h.cause ?? ''}` : '').slice(0, 300))}</code></td></tr>`,
    )
    .join('');
  const leadId = z.object({ leadId: z.string() }).safeParse(safeJson(run.input)).data?.leadId;
  return page(
    run.name,
    `<h1>${esc(run.track)}: <span class="${esc(run.status)}">${esc(run.status)}</span></h1>
<p>${esc(run.name)}${leadId ? ` · <a href="/_local/leads/${esc(encodeURIComponent(leadId))}">the lead</a>` : ''}<br>started ${when(run.startedAt)}${run.stoppedAt ? `, ended ${when(run.stoppedAt)}` : ''} (simulated time), ${run.transitions} state transitions</p>
<div class="card" style="overflow:auto">${machine ? trackGraph(machine.definition, run) : ''}<p class="muted">Green: states this run went through; blue: where it is now; red: where it failed.</p></div>
<h2>History</h2><table><tr><th>time</th><th>event</th><th>state</th><th>error</th></tr>${rows}</table>`,
  );
}

function sweepsPage(deps: ConsoleDeps): LocalResponse {
  const Summary = z.object({
    asOf: z.string(),
    counts: z.object({
      reviewed: z.number(),
      changed: z.number(),
      transitions: z.record(z.string(), z.number()),
      actions: z.record(z.string(), z.number()),
    }),
    failed: z.number(),
  });
  const runs = deps.stepFunctions.list().filter((r) => r.stateMachineArn === deps.requalificationArn);
  const list = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || '–';
  const rows = runs
    .slice(0, 200)
    .map((r) => {
      const s = Summary.safeParse(r.output).data;
      return `<tr><td class="${esc(r.status)}">${esc(r.status)}</td><td><a href="/_local/runs/${esc(encodeURIComponent(r.name))}">${when(s?.asOf ?? r.startedAt)}</a></td><td class="n">${s?.counts.reviewed ?? '–'}</td><td class="n">${s?.counts.changed ?? '–'}</td><td>${esc(s ? list(s.counts.transitions) : '')}</td><td>${esc(s ? list(s.counts.actions) : '')}</td></tr>`;
    })
    .join('');
  return page(
    'Sweeps',
    `<h1>Requalification sweeps</h1><p class="muted">${runs.length} sweep(s), newest first. <code>POST /_local/sweep</code> or <code>npm run leadloop -- sweep</code> runs one now.</p><table><tr><th>status</th><th>as of</th><th class="n">reviewed</th><th class="n">changed</th><th>stage changes</th><th>nurture</th></tr>${rows}</table>`,
  );
}

function reports(deps: ConsoleDeps, file: string | undefined): LocalResponse {
  const dir = deps.reportsDir;
  const files =
    dir && existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith('.html'))
          .sort()
      : [];
  if (file !== undefined) {
    const name = basename(file);
    if (!dir || !files.includes(name)) return notFound(`no report ${file}`);
    return {
      status: 200,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
      },
      body: readFileSync(join(dir, name)),
    };
  }
  const items = files
    .map((f) => `<li><a href="/_local/reports/${esc(encodeURIComponent(f))}">${esc(f)}</a></li>`)
    .join('');
  return page(
    'Reports',
    `<h1>Reports</h1><p>Model-lab and experiment reports written to <code>${esc(dir ?? '(no data dir: in memory)')}</code>:</p>${items ? `<ul>${items}</ul>` : '<p class="muted">None yet. Write one with <code>npm run leadloop -- backtest --html .leadloop/reports/backtest.html</code> or <code>npm run leadloop -- experiments --html .leadloop/reports/experiments.html</code>.</p>'}`,
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Mounts the console's pages; returns a function that removes them. */
export function registerConsole(
  register: (method: string, path: string, handler: LocalRouteHandler) => () => void,
  deps: ConsoleDeps,
  opts: { runsJson: LocalRouteHandler },
): () => void {
  const wantsJson = (req: LocalRequest) =>
    req.query.get('format') === 'json' || String(req.headers.accept ?? '').includes('application/json');
  const guard =
    (handler: (req: LocalRequest) => LocalResponse | Promise<LocalResponse>): LocalRouteHandler =>
    async (req) => {
      try {
        return await handler(req);
      } catch (e) {
        return page(
          'Error',
          `<h1>Something went wrong</h1><p>${esc(e instanceof Error ? e.message : String(e))}</p>`,
          500,
        );
      }
    };
  const removers = [
    register(
      'GET',
      '/_local',
      guard(() => overview(deps)),
    ),
    register(
      'GET',
      '/_local/leads',
      guard((req) => leads(deps, req)),
    ),
    register(
      'GET',
      '/_local/leads/{leadId}',
      guard((req) => leadPage(deps, req.params.leadId ?? '')),
    ),
    register(
      'GET',
      '/_local/runs',
      guard((req) => (wantsJson(req) ? opts.runsJson(req) : runsPage(deps))),
    ),
    register(
      'GET',
      '/_local/runs/{name}',
      guard((req) => (wantsJson(req) ? opts.runsJson(req) : runPage(deps, req.params.name ?? ''))),
    ),
    register(
      'GET',
      '/_local/sweeps',
      guard(() => sweepsPage(deps)),
    ),
    register(
      'GET',
      '/_local/reports',
      guard(() => reports(deps, undefined)),
    ),
    register(
      'GET',
      '/_local/reports/{file}',
      guard((req) => reports(deps, req.params.file)),
    ),
  ];
  return () => removers.forEach((r) => r());
}
