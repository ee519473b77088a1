import type { Clock } from '../../lambdas/domain/clock.js';
import { parseSesRecord, parseSesSqsBody, SesRecordError } from '../../lambdas/domain/ses-events.js';
import { SES_DETAIL_TYPES } from './adapters/ses-loopback.js';
import {
  clickRecord,
  localTrackingSecret,
  openRecord,
  verifyTrackingParams,
  type SesRecordJson,
  type TrackingKind,
} from './adapters/ses-simulator.js';
import type { LocalRequest, LocalResponse, LocalRouteHandler } from './http-server.js';

/**
 * The engagement loop-back routes of the local runtime (DESIGN §9). Each feeds SES records to the event bus exactly
 * as SES publishes them for mail sent with the stack's configuration set — from there the template's rule routes them
 * to the engagement queue and function, as on AWS.
 *
 * - `POST /_local/ses`: one SES record or an array, as SES publishes them (bare records, or whole EventBridge events
 *   whose `detail` is the record), published as SES publishes them to this stack: for mail of the stack's
 *   configuration set (its `ses:configuration-set` tag says so, whatever the record said). The answer comes once the
 *   engagement queue has processed what was published and the stream has scored what it recorded: 202 `{ received, failed: [{ index, reason }] }` (a record that reached no
 *   rule is `failed`); 400 `{ error: 'ValidationError', message, fields, records }` names each malformed record's first
 *   offending field (`[index].path` for an array) and reason, and then nothing is published.
 * - `GET /_local/t/open`: the open pixel of local mail; publishes an Open record and answers a 1×1 GIF.
 * - `GET /_local/t/click`: a tracked link of local mail; publishes a Click record and redirects (302) to the target.
 *   Both check the link's HMAC signature first (400 if bad): nobody can forge events about someone else's mail.
 */

export { SES_DETAIL_TYPES };

/** At most this many records per POST (one Lambda invocation). */
export const MAX_RECORDS_PER_POST = 100;

export interface SesRoutesOptions {
  /** Publishes one record as SES would (see `sesEventPublisher`); resolves to the number of buses it reached. */
  publish: (record: SesRecordJson) => Promise<number>;
  /** The stack's configuration set, for records that name none. */
  configurationSetName: string;
  /** Resolves once what was published has been processed (the engagement queue drained, its events scored). */
  settled?: () => Promise<void>;
  /** The stack's clock: times of opens and clicks. */
  clock: Clock;
  /** HMAC key of the tracking links. @default localTrackingSecret() */
  secret?: string;
  log?: (line: string) => void;
}

export interface SesRoutes {
  postSes: LocalRouteHandler;
  trackOpen: LocalRouteHandler;
  trackClick: LocalRouteHandler;
}

/** A transparent 1×1 GIF. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const json = (status: number, value: unknown): LocalResponse => ({
  status,
  headers: { 'Content-Type': 'application/json; charset=utf-8' },
  body: JSON.stringify(value),
});

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function sesRoutes(opts: SesRoutesOptions): SesRoutes {
  const secret = opts.secret ?? localTrackingSecret();
  const log = opts.log ?? ((line: string) => console.log(line));

  /** The record as SES publishes it to this stack: for mail of the stack's configuration set. */
  const withConfigurationSet = (raw: Record<string, unknown>): SesRecordJson => {
    const record = structuredClone(raw) as SesRecordJson;
    const mail = isObject(record.mail) ? record.mail : {};
    const tags = isObject(mail.tags) ? mail.tags : {};
    tags['ses:configuration-set'] = [opts.configurationSetName];
    mail.tags = tags as SesRecordJson['mail'][string];
    record.mail = mail;
    return record;
  };

  /** Publishes the records; answers the indexes that reached no rule, with why. */
  const dispatch = async (records: SesRecordJson[]): Promise<{ index: number; reason: string }[]> => {
    const failed: { index: number; reason: string }[] = [];
    for (const [index, record] of records.entries()) {
      try {
        if ((await opts.publish(record)) === 0) {
          failed.push({
            index,
            reason: `no event destination took it: its configuration set is not the stack's (${opts.configurationSetName}), or the set does not publish ${record.eventType} events`,
          });
        }
      } catch (error) {
        failed.push({ index, reason: `not published: ${error instanceof Error ? error.message : String(error)}` });
      }
    }
    await opts.settled?.().catch((e: unknown) => log(`[ses] ${e instanceof Error ? e.message : String(e)}`));
    return failed;
  };

  const postSes: LocalRouteHandler = async (req) => {
    let value: unknown;
    try {
      value = JSON.parse(req.body.toString('utf8'));
    } catch {
      return json(400, {
        error: 'ValidationError',
        message: 'body is not valid JSON',
        fields: { '(body)': 'is not valid JSON' },
      });
    }
    const items = Array.isArray(value) ? value : [value];
    if (items.length === 0 || items.length > MAX_RECORDS_PER_POST) {
      const reason = `must hold 1 to ${MAX_RECORDS_PER_POST} SES records`;
      return json(400, { error: 'ValidationError', message: reason, fields: { '(body)': reason } });
    }
    const fields: Record<string, string> = {};
    const records: { index: number; field: string; reason: string; problems: readonly string[] }[] = [];
    const valid: SesRecordJson[] = [];
    items.forEach((item, index) => {
      const prefix = Array.isArray(value) ? `[${index}].` : '';
      try {
        // A whole EventBridge event (it has a `detail`) is published as its record; a bare record as it is.
        const raw: unknown = isObject(item) && 'detail' in item ? item.detail : item;
        if (isObject(item) && 'detail' in item) parseSesSqsBody(JSON.stringify(item));
        else parseSesRecord(item);
        if (isObject(raw)) valid.push(withConfigurationSet(raw));
      } catch (error) {
        if (!(error instanceof SesRecordError)) throw error;
        fields[`${prefix}${error.field}`] = error.reason;
        records.push({ index, field: error.field, reason: error.reason, problems: error.problems });
      }
    });
    if (Object.keys(fields).length > 0) {
      return json(400, { error: 'ValidationError', message: 'malformed SES event record', fields, records });
    }
    return json(202, { received: valid.length, failed: await dispatch(valid) });
  };

  /** Builds the Open or Click record a tracking request stands for, and publishes it. */
  const track = async (req: LocalRequest, kind: TrackingKind): Promise<{ target?: string } | LocalResponse> => {
    const check = verifyTrackingParams(req.query, kind, secret);
    if (!check.valid) return json(400, { error: 'BadRequest', message: `invalid tracking link: ${check.reason}` });
    const userAgent = req.headers['user-agent'];
    const reader = {
      timestamp: opts.clock.now(),
      ...(typeof userAgent === 'string' ? { userAgent } : {}),
      ipAddress: req.sourceIp,
    };
    const record: SesRecordJson =
      kind === 'open'
        ? openRecord(check.mail, reader)
        : clickRecord(check.mail, { ...reader, link: check.target ?? '' });
    // The reader gets the pixel or the page even if recording fails: tracking must never break the mail.
    for (const { reason } of await dispatch([withConfigurationSet(record)])) {
      log(`[ses-engagement] ${kind} of ${check.mail.messageId} not recorded: ${reason}`);
    }
    return kind === 'click' ? { target: check.target ?? '' } : {};
  };

  const trackOpen: LocalRouteHandler = async (req) => {
    const out = await track(req, 'open');
    if ('status' in out) return out;
    return {
      status: 200,
      headers: { 'Content-Type': 'image/gif', 'Cache-Control': 'no-store, max-age=0' },
      body: PIXEL,
    };
  };

  const trackClick: LocalRouteHandler = async (req) => {
    const out = await track(req, 'click');
    if ('status' in out) return out;
    return { status: 302, headers: { Location: out.target ?? '/', 'Cache-Control': 'no-store' } };
  };

  return { postSes, trackOpen, trackClick };
}

/** Mounts the routes; returns a function that removes them. */
export function registerSesRoutes(
  register: (method: string, path: string, handler: LocalRouteHandler) => () => void,
  opts: SesRoutesOptions,
): () => void {
  const routes = sesRoutes(opts);
  const removers = [
    register('POST', '/_local/ses', routes.postSes),
    register('GET', '/_local/t/open', routes.trackOpen),
    register('GET', '/_local/t/click', routes.trackClick),
  ];
  return () => removers.forEach((remove) => remove());
}
