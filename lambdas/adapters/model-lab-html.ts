import type {
  BacktestReport,
  ChangeExample,
  ModelReport,
  StageMetrics,
  ThresholdPoint,
} from '../domain/model-lab/backtest.js';

/**
 * The backtest report as one self-contained HTML page (no script, no external resource: inline CSS and SVG), written
 * for a marketer: what the model got right, what it missed, where the thresholds could be, and what a candidate
 * model would change. Used by `leadloop backtest --html` and by the AWS report Lambda.
 */

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
const pct = (x: number | null): string => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
const num = (x: number | null, digits = 1): string => (x === null ? '—' : x.toFixed(digits));
const int = (n: number): string => n.toLocaleString('en-US');

const COLORS = { precision: '#1f6feb', recall: '#d4572a', f1: '#2da44e', positive: '#2da44e', negative: '#8c959f' };

interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: [number, number | null][];
}

/** A line chart of rates (0–100 %) against a threshold, with vertical marks at chosen thresholds. */
function lineChart(
  title: string,
  xLabel: string,
  series: Series[],
  marks: { x: number; label: string; color: string }[],
): string {
  const W = 560;
  const H = 260;
  const L = 48;
  const R = 16;
  const T = 20;
  const B = 40;
  const xs = series.flatMap((s) => s.points.map(([x]) => x)).concat(marks.map((m) => m.x));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => T + (1 - y) * (H - T - B);
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map(
      (y) =>
        `<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" class="grid"/><text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${y * 100}%</text>`,
    )
    .join('');
  const ticks = Array.from({ length: 6 }, (_, i) => x0 + ((x1 - x0) * i) / 5)
    .map((x) => `<text x="${sx(x)}" y="${H - B + 16}" text-anchor="middle">${num(x, 0)}</text>`)
    .join('');
  const lines = series
    .map((s) => {
      const d = s.points
        .filter((p): p is [number, number] => p[1] !== null)
        .map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
        .join(' ');
      return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`;
    })
    .join('');
  const markLines = marks
    .map(
      (m) =>
        `<line x1="${sx(m.x)}" x2="${sx(m.x)}" y1="${T}" y2="${H - B}" stroke="${m.color}" stroke-width="1.5" stroke-dasharray="3 3"/><text x="${sx(m.x) + 4}" y="${T + 12}" fill="${m.color}">${esc(m.label)}</text>`,
    )
    .join('');
  const legend = series
    .map(
      (s, i) =>
        `<g transform="translate(${L + i * 128},${H + 14})"><line x1="0" x2="22" y1="-4" y2="-4" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/><text x="28" y="0">${esc(s.name)}</text></g>`,
    )
    .join('');
  return `<figure><svg viewBox="0 0 ${W} ${H + 22}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${grid}${ticks}${lines}${markLines}<text x="${(L + W - R) / 2}" y="${H - B + 32}" text-anchor="middle" class="axis">${esc(xLabel)}</text>${legend}</svg><figcaption>${esc(title)}</figcaption></figure>`;
}

/** Bars, optionally two series side by side, with an optional reference line. */
function barChart(
  title: string,
  labels: string[],
  series: { name: string; color: string; values: (number | null)[] }[],
  options: { reference?: number; format: (v: number) => string; xLabel: string },
): string {
  const W = 560;
  const H = 240;
  const L = 48;
  const R = 16;
  const T = 16;
  const B = 44;
  const max = Math.max(options.reference ?? 0, ...series.flatMap((s) => s.values.map((v) => v ?? 0)), 1e-9);
  const slot = (W - L - R) / Math.max(1, labels.length);
  const bw = (slot * 0.8) / series.length;
  const sy = (v: number) => T + (1 - v / max) * (H - T - B);
  const bars = series
    .map((s, k) =>
      s.values
        .map((v, i) =>
          v === null
            ? ''
            : `<rect x="${(L + i * slot + slot * 0.1 + k * bw).toFixed(1)}" y="${sy(v).toFixed(1)}" width="${bw.toFixed(1)}" height="${(H - B - sy(v)).toFixed(1)}" fill="${s.color}"><title>${esc(`${s.name} ${labels[i] ?? ''}: ${options.format(v)}`)}</title></rect>`,
        )
        .join(''),
    )
    .join('');
  const xl = labels
    .map((l, i) =>
      labels.length <= 12 || i % 2 === 0
        ? `<text x="${L + i * slot + slot / 2}" y="${H - B + 14}" text-anchor="middle">${esc(l)}</text>`
        : '',
    )
    .join('');
  const yTicks = [0, 0.5, 1]
    .map(
      (f) =>
        `<line x1="${L}" x2="${W - R}" y1="${sy(max * f)}" y2="${sy(max * f)}" class="grid"/><text x="${L - 6}" y="${sy(max * f) + 4}" text-anchor="end">${options.format(max * f)}</text>`,
    )
    .join('');
  const ref =
    options.reference === undefined
      ? ''
      : `<line x1="${L}" x2="${W - R}" y1="${sy(options.reference)}" y2="${sy(options.reference)}" stroke="#444" stroke-dasharray="4 3"/><text x="${W - R}" y="${sy(options.reference) - 4}" text-anchor="end">${esc(options.format(options.reference))} = no better than chance</text>`;
  const legend =
    series.length > 1
      ? series
          .map(
            (s, i) =>
              `<g transform="translate(${L + i * 150},${H})"><rect x="0" y="-9" width="12" height="10" fill="${s.color}"/><text x="18" y="0">${esc(s.name)}</text></g>`,
          )
          .join('')
      : '';
  return `<figure><svg viewBox="0 0 ${W} ${H + 8}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${yTicks}${bars}${ref}${xl}<text x="${(L + W - R) / 2}" y="${H - B + 30}" text-anchor="middle" class="axis">${esc(options.xLabel)}</text>${legend}</svg><figcaption>${esc(title)}</figcaption></figure>`;
}

function stageRow(name: string, m: StageMetrics, other?: StageMetrics): string {
  const cell = (a: string, b?: string) => `<td>${a}${b !== undefined ? ` <span class="cand">→ ${b}</span>` : ''}</td>`;
  return `<tr><th>${name}</th>${cell(int(m.flagged), other && int(other.flagged))}${cell(int(m.tp), other && int(other.tp))}${cell(int(m.fp), other && int(other.fp))}${cell(int(m.fn), other && int(other.fn))}${cell(pct(m.precision), other && pct(other.precision))}${cell(pct(m.recall), other && pct(other.recall))}${cell(num(m.f1, 2), other && num(other.f1, 2))}${cell(num(m.medianLeadTimeDays), other && num(other.medianLeadTimeDays))}</tr>`;
}

const thresholdText = (p: ThresholdPoint): string =>
  p.stage === 'mql'
    ? `fit ≥ ${num(p.fit ?? null, 0)} and engagement ≥ ${num(p.engagement ?? null)}`
    : `${p.minBantAnswers ?? 0} BANT answers and engagement ≥ ${num(p.minEngagement ?? null)}`;

function curveSeries(
  points: ThresholdPoint[],
  stage: 'mql' | 'sql',
  fixed: number,
  suffix: string,
  dashed: boolean,
): Series[] {
  const along = points.filter(
    (p) => p.stage === stage && (stage === 'mql' ? p.fit === fixed : p.minBantAnswers === fixed),
  );
  const x = (p: ThresholdPoint) => (stage === 'mql' ? (p.engagement ?? 0) : (p.minEngagement ?? 0));
  return (['precision', 'recall'] as const).map((k) => ({
    name: `${k}${suffix}`,
    color: COLORS[k],
    dashed,
    points: along.map((p) => [x(p), p[k]] as [number, number | null]),
  }));
}

function example(e: ChangeExample): string {
  const contributions = (side: ChangeExample['current']) =>
    side.explanation.contributions
      .map((c) => `<li>${esc(c.label)} <b>${c.points > 0 ? '+' : ''}${num(c.points)}</b></li>`)
      .join('');
  const who =
    [e.jobTitle, e.company]
      .filter((x): x is string => !!x)
      .map(esc)
      .join(', ') || 'no title given';
  return `<div class="example"><p><code>${esc(e.leadId)}</code> — ${who}; outcome <b>${esc(e.outcome)}</b> (${e.label === 'positive' ? 'won' : 'rejected'}) on ${esc(e.outcomeAt.slice(0, 10))}</p>
<div class="sides"><div><h4>current: ${esc(e.current.predicted)}${e.current.at ? ` from ${esc(e.current.at.slice(0, 10))}` : ''}</h4><p>score ${num(e.current.explanation.total)} (fit ${num(e.current.explanation.fit)}, engagement ${num(e.current.explanation.engagement)})</p><ul>${contributions(e.current)}</ul></div>
<div><h4>candidate: ${esc(e.candidate.predicted)}${e.candidate.at ? ` from ${esc(e.candidate.at.slice(0, 10))}` : ''}</h4><p>score ${num(e.candidate.explanation.total)} (fit ${num(e.candidate.explanation.fit)}, engagement ${num(e.candidate.explanation.engagement)})</p><ul>${contributions(e.candidate)}</ul></div></div></div>`;
}

function recommendation(label: string, r: ModelReport['recommended'], current: ThresholdPoint[]): string {
  const rows = (['mql', 'sql'] as const)
    .map((stage) => {
      const now = current.find((p) => p.stage === stage && p.current);
      const rec = r[stage];
      return `<tr><th>${stage.toUpperCase()}</th><td>${now ? `${esc(thresholdText(now))}<br><small>precision ${pct(now.precision)}, recall ${pct(now.recall)}, F1 ${num(now.f1, 2)}</small>` : '—'}</td><td>${rec ? `${esc(thresholdText(rec))}<br><small>precision ${pct(rec.precision)}, recall ${pct(rec.recall)}, F1 ${num(rec.f1, 2)}</small>` : '—'}</td></tr>`;
    })
    .join('');
  const goal =
    r.objective === 'max-f1'
      ? 'the best balance of precision and recall (highest F1)'
      : `the highest recall with precision of at least ${pct(r.targetPrecision ?? null)}`;
  return `<h3>${esc(label)}</h3><p>Recommended for ${goal}:</p><table><tr><th></th><th>now</th><th>recommended</th></tr>${rows}</table>${r.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('')}`;
}

export function renderReportHtml(
  report: BacktestReport,
  meta: { title?: string; generatedAt: string; currentName: string; candidateName?: string },
): string {
  const c = report.candidate;
  const title = meta.title ?? 'Leadloop model lab: backtest';
  const fitNow = report.current.mql.fit;
  const bantNow = report.current.sql.minBantAnswers;
  const recM = report.recommended.mql;
  const mqlCurve = lineChart(
    `MQL: precision and recall against the engagement threshold (fit ≥ ${fitNow})`,
    'MQL engagement threshold (points)',
    [
      ...curveSeries(report.thresholds, 'mql', fitNow, '', false),
      ...(c ? curveSeries(c.thresholdGrid, 'mql', c.thresholds.mql.fit, ', cand.', true) : []),
    ],
    [
      { x: report.current.mql.engagement, label: 'now', color: '#444' },
      ...(recM && recM.fit === fitNow && recM.engagement !== undefined
        ? [{ x: recM.engagement, label: 'recommended', color: COLORS.f1 }]
        : []),
    ],
  );
  const recS = report.recommended.sql;
  const sqlCurve = lineChart(
    `SQL: precision and recall against the engagement threshold (${bantNow} BANT answers)`,
    'SQL engagement threshold (points)',
    [
      ...curveSeries(report.thresholds, 'sql', bantNow, '', false),
      ...(c ? curveSeries(c.thresholdGrid, 'sql', c.thresholds.sql.minBantAnswers, ', cand.', true) : []),
    ],
    [
      { x: report.current.sql.minEngagement, label: 'now', color: '#444' },
      ...(recS && recS.minBantAnswers === bantNow && recS.minEngagement !== undefined
        ? [{ x: recS.minEngagement, label: 'recommended', color: COLORS.f1 }]
        : []),
    ],
  );
  const lift = barChart(
    'Lift by score decile (1 = the tenth of leads with the highest scores)',
    report.deciles.map((d) => String(d.decile)),
    [
      { name: 'current', color: COLORS.precision, values: report.deciles.map((d) => d.lift) },
      ...(c ? [{ name: 'candidate', color: '#a371f7', values: c.deciles.map((d) => d.lift) }] : []),
    ],
    { reference: 1, format: (v) => `${v.toFixed(1)}×`, xLabel: 'score decile' },
  );
  const dist = barChart(
    'Score at the outcome, by outcome',
    report.distribution.map((b) => num(b.from, 0)),
    [
      { name: 'won (positive)', color: COLORS.positive, values: report.distribution.map((b) => b.positives) },
      { name: 'rejected (negative)', color: COLORS.negative, values: report.distribution.map((b) => b.negatives) },
    ],
    { format: (v) => v.toFixed(0), xLabel: 'total score (fit + engagement) when sales decided' },
  );
  const moves = report.changes
    ? `<section><h2>What the candidate model would change</h2><p>${int(report.changes.leads)} of ${int(report.labeled)} labeled leads would be predicted differently.</p><table><tr><th>change (current → candidate)</th><th>leads</th></tr>${Object.entries(
        report.changes.moves,
      )
        .sort((a, b) => b[1] - a[1])
        .map(([m, n]) => `<tr><td>${esc(m)}</td><td>${int(n)}</td></tr>`)
        .join(
          '',
        )}</table><h3>Examples, with the scores' explanations at the outcome</h3>${report.changes.examples.map(example).join('')}</section>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#59636e}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}.card{border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:24px}.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px}
figure{margin:0;border:1px solid #d0d7de;border-radius:8px;padding:8px}figcaption{font-weight:600;margin-top:4px}
svg{width:100%;height:auto;font-size:12px;fill:#1f2328}svg .grid{stroke:#eaeef2}svg .axis{font-size:13px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}
.cand{color:#8250df}.note{color:#9a6700}.explain{color:#59636e;max-width:880px}
.example{border:1px solid #d0d7de;border-radius:8px;padding:8px 12px;margin:8px 0}.sides{display:grid;grid-template-columns:1fr 1fr;gap:12px}.sides h4{margin:4px 0}
ul{margin:4px 0;padding-left:20px}
</style></head><body>
<h1>${esc(title)}</h1>
<p class="meta">Model <b>${esc(meta.currentName)}</b>${meta.candidateName ? ` against candidate <b class="cand">${esc(meta.candidateName)}</b>` : ''} · generated ${esc(meta.generatedAt)}${report.window.since || report.window.until ? ` · outcomes from ${esc(report.window.since ?? 'the start')} until ${esc(report.window.until ?? 'now')}` : ''}</p>
<div class="cards"><div class="card"><b>${int(report.leads)}</b>leads read</div><div class="card"><b>${int(report.labeled)}</b>with a sales outcome</div><div class="card"><b>${int(report.positives)}</b>won or accepted</div><div class="card"><b>${int(report.negatives)}</b>rejected</div><div class="card"><b>${int(report.unlabeled)}</b>no outcome yet (not scored)</div></div>
<p class="explain">Each lead with a sales outcome was replayed under the model using only what happened <em>before</em> sales decided. A lead counts as flagged for a stage if it would have reached it by then. <b>Precision</b>: of the leads flagged, the share sales went on to accept or win. <b>Recall</b>: of the leads sales accepted or won, the share the model had flagged. <b>F1</b> balances the two. <b>Lead time</b>: how many days before the win the model flagged the lead.</p>
<section><h2>How well the model predicted the outcomes</h2>
<table><tr><th>stage</th><th>flagged</th><th>flagged and won</th><th>flagged, rejected</th><th>won, not flagged</th><th>precision</th><th>recall</th><th>F1</th><th>median lead time (days)</th></tr>
${stageRow('MQL', report.stages.mql, c?.stages.mql)}${stageRow('SQL', report.stages.sql, c?.stages.sql)}</table>
${c ? '<p class="explain">Figures after <span class="cand">→</span> are the candidate model\'s.</p>' : ''}</section>
<section><h2>Where the thresholds could be</h2>
<p class="explain">Raising a threshold flags fewer leads: precision usually goes up and recall down. The curves show that trade-off for this data; "now" marks the model's setting.</p>
<div class="grid2">${mqlCurve}${sqlCurve}</div>
${recommendation('Current model', report.recommended, report.thresholds)}${c ? recommendation('Candidate model', c.recommended, c.thresholdGrid) : ''}</section>
<section><h2>Does a higher score mean a better lead?</h2>
<p class="explain">Lift compares each tenth of the leads, ranked by score when sales decided, with the average: a lift of 2× means that tenth wins twice as often as leads in general. A good model has high bars on the left, falling to the right. The distribution shows where won and rejected leads scored.</p>
<div class="grid2">${lift}${dist}</div></section>
${moves}
</body></html>
`;
}
