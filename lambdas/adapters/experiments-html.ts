import {
  CONVERSION_NAMES,
  type ArmSummary,
  type Comparison,
  type Conversion,
  type ExperimentSummary,
  type ExperimentsReport,
  type Rate,
} from '../domain/experiments/report.js';

/**
 * The experiments report as one self-contained HTML page (inline CSS and SVG, no script, nothing fetched), written for
 * a marketer: per track and experiment, how the treated and the held-out leads converted, the difference with its
 * confidence interval drawn, the verdict in words, and the content variants' opens and clicks. Used by
 * `leadloop experiments --html` and the local console.
 */

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
const pct = (x: number | null): string => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
const int = (n: number): string => n.toLocaleString('en-US');
const pts = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}`;
const LABELS: Record<Conversion, string> = { mql: 'MQL', sql: 'SQL', opportunity: 'Opportunity' };

const rateCell = (r: Rate): string =>
  `<td><b>${pct(r.rate)}</b> <span class="muted">${int(r.count)}/${int(r.of)}${r.ci ? ` · ${pct(r.ci.low)}–${pct(r.ci.high)}` : ''}</span></td>`;

/** The difference and its interval on a −20…+20 point axis (clipped), zero marked. */
function intervalBar(c: Comparison): string {
  if (c.difference === null || c.ci === null) return '<span class="muted">—</span>';
  const W = 240;
  const span = Math.max(0.2, Math.abs(c.ci.low), Math.abs(c.ci.high));
  const x = (v: number) => ((Math.max(-span, Math.min(span, v)) + span) / (2 * span)) * W;
  const color = c.ci.low > 0 ? '#2da44e' : c.ci.high < 0 ? '#cf222e' : '#59636e';
  return `<svg viewBox="0 0 ${W} 24" width="${W}" height="24" role="img" aria-label="${esc(`${pts(c.difference)} points, 95% CI ${pts(c.ci.low)} to ${pts(c.ci.high)}`)}"><line x1="${x(0)}" x2="${x(0)}" y1="2" y2="22" stroke="#8c959f"/><line x1="${x(c.ci.low)}" x2="${x(c.ci.high)}" y1="12" y2="12" stroke="${color}" stroke-width="4"/><circle cx="${x(c.difference)}" cy="12" r="5" fill="${color}"/></svg>`;
}

function armRow(name: string, a: ArmSummary): string {
  return `<tr><th>${esc(name)}</th><td>${int(a.leads)}${a.pending ? ` <span class="muted">(+${int(a.pending)} in their window)</span>` : ''}</td>${CONVERSION_NAMES.map((c) => rateCell(a.conversions[c])).join('')}</tr>`;
}

function experiment(e: ExperimentSummary): string {
  const uplift = CONVERSION_NAMES.map(
    (c) =>
      `<tr><th>${LABELS[c]}</th><td>${e.uplift[c].difference === null ? '—' : `${pts(e.uplift[c].difference ?? 0)} points`}</td><td>${intervalBar(e.uplift[c])}</td><td>${esc(e.uplift[c].verdict)}</td></tr>`,
  ).join('');
  const touches = e.touches
    .map(
      (t) => `<h4>Touch ${t.touch}: content variants</h4>
<table><tr><th>variant</th><th>template</th><th>leads mailed</th><th>opened</th><th>clicked</th><th>machine opens/clicks (left out)</th>${CONVERSION_NAMES.map((c) => `<th>${LABELS[c]}</th>`).join('')}</tr>
${t.variants.map((v) => `<tr><th>${esc(v.id)}</th><td>${esc(v.template)}</td><td>${int(v.leads)}</td>${rateCell(v.opened)}${rateCell(v.clicked)}<td>${int(v.machineEvents)}</td>${CONVERSION_NAMES.map((c) => rateCell(v.conversions[c])).join('')}</tr>`).join('')}</table>
${t.clickDifference.map((d) => `<p>Clicks, <b>${esc(d.variant)}</b> against <b>${esc(d.against)}</b>: ${intervalBar(d.comparison)} ${esc(d.comparison.verdict)}</p>`).join('')}`,
    )
    .join('');
  return `<section><h2>${esc(e.track)} · experiment <code>${esc(e.experimentId)}</code>${e.current ? '' : ' <span class="muted">(earlier experiment)</span>'}</h2>
<p class="verdict">${esc(e.verdict)}</p>
<p class="muted">${e.holdoutPercent !== null ? `${e.holdoutPercent}% held out · ` : ''}conversion within ${e.windowDays} days of a lead's first touch · leads exposed from ${esc(e.firstExposureAt.slice(0, 10))} to ${esc(e.lastExposureAt.slice(0, 10))}</p>
<table><tr><th>arm</th><th>leads</th>${CONVERSION_NAMES.map((c) => `<th>${LABELS[c]} <span class="muted">(95% CI)</span></th>`).join('')}</tr>
${armRow('Treatment (mailed)', e.arms.treatment)}${armRow('Holdout (no mail)', e.arms.holdout)}</table>
<h4>Uplift: treatment minus holdout</h4>
<table><tr><th>conversion</th><th>difference</th><th>95% CI (Newcombe)</th><th>what it means</th></tr>${uplift}</table>
${touches}</section>`;
}

/** The whole page. */
export function renderExperimentsHtml(report: ExperimentsReport, meta: { generatedAt: string }): string {
  const body =
    report.experiments.length === 0
      ? '<p>No experiment has data yet: no lead has reached a touch of a track that runs one.</p>'
      : report.experiments.map(experiment).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Leadloop experiments</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:middle}
.muted{color:#59636e}.verdict{font-size:17px;font-weight:600}.explain{color:#59636e;max-width:880px}svg{vertical-align:middle}
</style></head><body>
<h1>Does the nurture work?</h1>
<p class="muted">${int(report.leadsRead)} leads read · as of ${esc(report.asOf)} · generated ${esc(meta.generatedAt)}</p>
<p class="explain">Each track that runs an experiment holds a share of its leads out: they go through the same waits and re-evaluations but get none of the track's mail. A lead counts from its first touch (mailed or held out), once. <b>Conversion</b>: the lead reached the stage (or a later one) within the track's window. The <b>difference</b> is treatment minus holdout in percentage points; the bar is its 95% confidence interval (Newcombe's method), the grey line zero. The verdicts are sized for a ${Math.round(report.minDetectable * 100)}-point difference at 80% power. Opens and clicks leave out machine activity (security scanners, mail proxies).</p>
${body}
</body></html>
`;
}
