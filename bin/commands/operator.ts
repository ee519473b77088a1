/**
 * Operator commands against a running local stack (`npm start`), through its HTTP API — the same routes an operator
 * uses on AWS:
 *   runs [name]              nurture runs, or one run's state history (the console's execution view)
 *   export --email <a@b.c>   everything stored about a lead, as JSON (data-subject access request)
 *   erase --email <a@b.c>    erase a lead: lead, identity, events, history and nurture run; the address stays suppressed
 */
import { parseArgs } from 'node:util';
import { startProgress, type Progress } from '../progress.js';

const common = {
  url: { type: 'string' as const },
  'admin-key': { type: 'string' as const },
  help: { type: 'boolean' as const, short: 'h' },
};

function base(url: string | undefined): string {
  return (url ?? `http://127.0.0.1:${process.env.PORT || 3000}`).replace(/\/+$/, '');
}

async function call(url: string, init: RequestInit = {}): Promise<Response | string> {
  try {
    return await fetch(url, init);
  } catch {
    return `no local stack answers at ${new URL(url).origin} (start it with npm start, or pass --url)`;
  }
}

/** The lead id registered for an address, through `GET /leads?email=`. */
async function leadIdOf(root: string, email: string, adminKey: string): Promise<string | number> {
  const res = await call(`${root}/leads?email=${encodeURIComponent(email)}`, { headers: { 'x-admin-key': adminKey } });
  if (typeof res === 'string') {
    console.error(`leadloop: ${res}`);
    return 1;
  }
  if (res.status === 404) {
    console.error('leadloop: no lead has that address');
    return 1;
  }
  if (!res.ok) {
    console.error(`leadloop: ${res.status} ${await res.text()}`);
    return 1;
  }
  const body = (await res.json()) as { leadId?: unknown };
  return typeof body.leadId === 'string' ? body.leadId : 1;
}

function leadCommand(kind: 'export' | 'erase') {
  return async (argv: string[]): Promise<number> => {
    const { values } = parseArgs({
      args: argv,
      options: { ...common, email: { type: 'string' }, 'no-progress': { type: 'boolean' } },
    });
    if (values.help || !values.email) {
      console.log(
        `usage: npm run leadloop -- ${kind} --email <address> [--url http://127.0.0.1:3000] [--admin-key key]${kind === 'export' ? ' [--no-progress]' : ''}`,
      );
      return values.help ? 0 : 2;
    }
    const root = base(values.url);
    const adminKey = values['admin-key'] ?? process.env.LEADLOOP_ADMIN_KEY ?? 'dev-admin-key';
    const leadId = await leadIdOf(root, values.email, adminKey);
    if (typeof leadId === 'number') return leadId;
    const headers = { 'x-admin-key': adminKey };
    if (kind === 'export') {
      const dump = await exportPages(`${root}/leads/${leadId}/export`, headers, !values['no-progress']);
      if (typeof dump === 'string') {
        console.error(`leadloop: ${dump}`);
        return 1;
      }
      console.log(JSON.stringify(dump, null, 2));
      return 0;
    }
    const res = await call(`${root}/leads/${leadId}`, { method: 'DELETE', headers });
    if (typeof res === 'string' || !res.ok) {
      console.error(`leadloop: ${typeof res === 'string' ? res : `${res.status} ${await res.text()}`}`);
      return 1;
    }
    // 202: the erase worker finishes it; the status resource answers 404 once nothing is left.
    if (res.status === 202 && !(await erasureFinished(`${root}/leads/${leadId}/erasure`, headers))) {
      console.error(`leadloop: the erasure of lead ${leadId} is still under way (GET /leads/${leadId}/erasure)`);
      return 1;
    }
    console.log(`erased lead ${leadId}; the address stays suppressed (it will not be re-added or mailed)`);
    return 0;
  };
}

/**
 * Every page of an export, merged: the lead and history of the first page, all events by when they happened. A lead
 * with more than one page gets a progress display on stderr (events read, rate; the total is not known beforehand,
 * so the bar's end moves on with each full page).
 */
async function exportPages(
  url: string,
  headers: Record<string, string>,
  showProgress: boolean,
): Promise<Record<string, unknown> | string> {
  let first: Record<string, unknown> | undefined;
  const events: { occurredAt?: string }[] = [];
  let cursor: string | null = null;
  let progress: Progress | undefined;
  try {
    do {
      const res = await call(cursor ? `${url}?cursor=${encodeURIComponent(cursor)}` : url, { headers });
      if (typeof res === 'string') return res;
      if (!res.ok) return `${res.status} ${await res.text()}`;
      const page = (await res.json()) as { events?: { occurredAt?: string }[]; nextCursor?: string | null };
      first ??= page;
      events.push(...(page.events ?? []));
      cursor = page.nextCursor ?? null;
      if (cursor && !progress) {
        progress = startProgress('export', { unit: 'events', total: events.length * 2, enabled: showProgress });
      }
      if (cursor) progress?.update(events.length, 'reading pages');
      else progress?.finish(events.length, 'done');
    } while (cursor);
  } finally {
    progress?.stop();
  }
  events.sort((a, b) => String(a.occurredAt).localeCompare(String(b.occurredAt)));
  const { nextCursor: _last, ...rest } = first ?? {};
  return { ...rest, events };
}

/** Polls the erasure's status resource until it is gone (done) or `timeoutMs` passed. */
async function erasureFinished(url: string, headers: Record<string, string>, timeoutMs = 60_000): Promise<boolean> {
  for (const until = Date.now() + timeoutMs; Date.now() < until;) {
    const res = await call(url, { headers });
    if (typeof res !== 'string' && res.status === 404) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

export const exportLead = leadCommand('export');
export const eraseLead = leadCommand('erase');

interface RunSummary {
  name: string;
  track: string;
  status: string;
  startedAt: string;
  transitions: number;
  currentState: string;
}

export async function runs(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: common, allowPositionals: true });
  if (values.help) {
    console.log('usage: npm run leadloop -- runs [execution-name] [--url http://127.0.0.1:3000]');
    return 0;
  }
  const name = positionals[0];
  const res = await call(`${base(values.url)}/_local/runs${name ? `/${encodeURIComponent(name)}` : ''}?format=json`);
  if (typeof res === 'string' || !res.ok) {
    console.error(`leadloop: ${typeof res === 'string' ? res : `${res.status} ${await res.text()}`}`);
    return 1;
  }
  if (name) {
    const run = (await res.json()) as {
      name: string;
      track: string;
      status: string;
      history: { at: string; type: string; state?: string; error?: string }[];
    };
    console.log(`${run.name}  track ${run.track}  ${run.status}`);
    for (const h of run.history.filter((e) => e.type !== 'StateExited')) {
      console.log(`  ${h.at}  ${h.type.padEnd(20)} ${h.state ?? ''}${h.error ? `  ${h.error}` : ''}`);
    }
    return 0;
  }
  const list = (await res.json()) as RunSummary[];
  if (list.length === 0) console.log('no nurture runs yet');
  for (const r of list) {
    console.log(
      `${r.status.padEnd(9)} ${r.track.padEnd(13)} ${r.name}  started ${r.startedAt}  ${r.transitions} transitions  @ ${r.currentState}`,
    );
  }
  return 0;
}
