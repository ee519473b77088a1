import * as z from 'zod';
import { ApiEvent, EventBatch } from '../lambdas/domain/capture.js';
import { FORMS, FormSubmission } from '../lambdas/domain/forms.js';

/**
 * The HTTP API as an OpenAPI 3.1 document (DESIGN §8), its request bodies generated from the very zod schemas the
 * handlers validate with (`FormSubmission`, `EventBatch`/`ApiEvent`): no second copy of a field list to drift. The
 * operations below say what each route is for and what it answers; a test checks them against the routes of the
 * synthesized template, both ways. Served locally at `/_local/openapi.json`.
 */

const schema = (s: z.ZodType) => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
};

const ErrorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', examples: ['ValidationError'] },
    message: { type: 'string' },
    fields: { type: 'object', additionalProperties: { type: 'string' }, description: 'field → reason' },
  },
};
const Erasure = {
  type: 'object',
  required: ['leadId', 'status', 'requestedAt', 'itemsDeleted', 'nurtureRunStopped'],
  properties: {
    leadId: { type: 'string' },
    status: { const: 'erasing' },
    requestedAt: { type: 'string', format: 'date-time' },
    itemsDeleted: { type: 'integer', description: 'Items of the lead deleted so far' },
    nurtureRunStopped: { type: 'boolean' },
  },
};
const json = (s: unknown) => ({ 'application/json': { schema: s } });
const error = (description: string) => ({ description, content: json({ $ref: '#/components/schemas/Error' }) });
const leadIdParam = { name: 'leadId', in: 'path', required: true, schema: { type: 'string' } };
const tokenParam = { name: 'token', in: 'query', required: true, schema: { type: 'string' } };

/** Every operation: `<METHOD> <path>` as API Gateway's resources spell them. */
export const OPERATIONS: Record<string, Record<string, unknown>> = {
  'POST /forms/{formId}': {
    summary: 'Submit a landing-page form',
    description:
      'A plain HTML form post (urlencoded, with an optional `redirect` answered by a 303) or JSON. Unknown fields are refused; a filled honeypot (`website`) gets the normal answer and writes nothing. An `Idempotency-Key` header makes a retry return the first answer.',
    security: [],
    parameters: [
      { name: 'formId', in: 'path', required: true, schema: { type: 'string', enum: Object.keys(FORMS) } },
      { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 256 } },
    ],
    requestBody: {
      required: true,
      content: {
        'application/x-www-form-urlencoded': { schema: { $ref: '#/components/schemas/FormSubmission' } },
        'application/json': { schema: { $ref: '#/components/schemas/FormSubmission' } },
      },
    },
    responses: {
      202: {
        description: 'Accepted',
        content: json({
          type: 'object',
          required: ['leadId', 'status'],
          properties: { leadId: { type: 'string' }, status: { const: 'accepted' } },
        }),
      },
      303: { description: 'A urlencoded post with an allowed `redirect`: see `Location`' },
      400: error('A field is missing or invalid (`fields` names each with its reason)'),
      404: error('No such form'),
      413: error('Body over 16 KiB'),
      415: error('Neither JSON nor urlencoded'),
      429: error('Throttled'),
    },
  },
  'POST /events': {
    summary: 'Record web and product events (1–100)',
    description:
      'Each event is validated on its own: valid ones are recorded, invalid ones rejected by index. An event with `eventId` counts once per id; one with `occurredAt` (and no id) once per lead, type, instant and properties. An event with neither gets an id from its lead, type and properties within the 15-minute UTC window it arrives in: a retry in that window is a duplicate, and a second identical event in it counts once too (send `eventId` or `occurredAt` to count repeats).',
    security: [{ apiKey: [] }],
    requestBody: {
      required: true,
      content: json({
        ...schema(EventBatch),
        properties: {
          events: { type: 'array', minItems: 1, maxItems: 100, items: { $ref: '#/components/schemas/Event' } },
        },
      }),
    },
    responses: {
      202: {
        description: 'Recorded (duplicates and rejections counted)',
        content: json({
          type: 'object',
          properties: {
            accepted: { type: 'integer' },
            duplicates: { type: 'integer' },
            rejected: {
              type: 'array',
              items: { type: 'object', properties: { index: { type: 'integer' }, error: { type: 'string' } } },
            },
          },
        }),
      },
      400: error('Not a batch of 1 to 100 events'),
      401: error('Missing or invalid API key'),
      413: error('Body too large'),
      415: error('Not JSON'),
    },
  },
  'GET /leads': {
    summary: 'Find a lead by address',
    security: [{ iam: [] }],
    parameters: [{ name: 'email', in: 'query', required: true, schema: { type: 'string', format: 'email' } }],
    responses: {
      200: { description: 'The lead, with scores, contributions, stage history and nurture state' },
      404: error('No such lead'),
    },
  },
  'GET /leads/{leadId}': {
    summary: 'Read a lead',
    security: [{ iam: [] }],
    parameters: [leadIdParam],
    responses: {
      200: { description: 'The lead, with scores, contributions, stage history and nurture state' },
      404: error('No such lead'),
    },
  },
  'GET /leads/{leadId}/export': {
    summary: 'Export everything stored about a lead, in pages',
    description:
      'Each page holds the lead, its stage history and up to 1,000 of its events; follow `nextCursor` (passed as `cursor`) until it is `null`.',
    security: [{ iam: [] }],
    parameters: [leadIdParam, { name: 'cursor', in: 'query', required: false, schema: { type: 'string' } }],
    responses: {
      200: {
        description: 'One page: `{exportedFormat, lead, events, nextCursor}`',
        content: json({
          type: 'object',
          required: ['exportedFormat', 'lead', 'events', 'nextCursor'],
          properties: {
            exportedFormat: { const: 'leadloop.lead-export.v1' },
            lead: { type: 'object' },
            events: { type: 'array', items: { type: 'object' } },
            nextCursor: { type: ['string', 'null'] },
          },
        }),
      },
      400: error('A cursor that is not one'),
      404: error('No such lead'),
    },
  },
  'DELETE /leads/{leadId}': {
    summary: 'Erase a lead',
    description:
      'At once, in one write, the lead stops being readable and writable, its identity is deleted and a keyed hash (HMAC) of the address is kept so it is never re-added or mailed. Its events, history, sends and nurture run are then erased: within the call (204) or, for a large lead or one with a nurture run to stop, by the erase worker (202; `GET /leads/{leadId}/erasure` answers 404 once it is done). Repeating the call while it runs answers 202 again.',
    security: [{ iam: [] }],
    parameters: [leadIdParam],
    responses: {
      202: {
        description: 'Erasure under way; `Location` is its status resource',
        headers: { Location: { schema: { type: 'string' }, description: '`/leads/{leadId}/erasure`' } },
        content: json({ $ref: '#/components/schemas/Erasure' }),
      },
      204: { description: 'Erased: nothing of the lead is left but the keyed hash of its address' },
      404: error('No such lead'),
    },
  },
  'GET /leads/{leadId}/erasure': {
    summary: 'How far the erasure of a lead got',
    security: [{ iam: [] }],
    parameters: [leadIdParam],
    responses: {
      200: { description: 'Erasure under way', content: json({ $ref: '#/components/schemas/Erasure' }) },
      404: error('No erasure under way: it finished (or none was asked for)'),
    },
  },
  'GET /unsubscribe': {
    summary: 'The unsubscribe page of a mail',
    description: 'Shows a confirm button; a GET never unsubscribes (mail scanners follow links).',
    security: [],
    parameters: [tokenParam],
    responses: {
      200: { description: 'An HTML page' },
      400: { description: 'A bad, forged or expired token (an HTML page)' },
    },
  },
  'POST /unsubscribe': {
    summary: 'Unsubscribe (RFC 8058 one-click, or the page’s button)',
    security: [],
    parameters: [tokenParam],
    requestBody: {
      required: true,
      content: {
        'application/x-www-form-urlencoded': {
          schema: {
            type: 'object',
            required: ['List-Unsubscribe'],
            properties: { 'List-Unsubscribe': { const: 'One-Click' } },
          },
        },
      },
    },
    responses: { 200: { description: 'Unsubscribed (an HTML page)' }, 400: error('A bad token, or not One-Click') },
  },
  'GET /confirm': {
    summary: 'The confirmation page of a confirmed opt-in mail',
    description: 'Shows a confirm button; a GET never confirms (mail scanners follow links).',
    security: [],
    parameters: [tokenParam],
    responses: {
      200: { description: 'An HTML page' },
      400: { description: 'A missing, forged or expired token (an HTML page)' },
    },
  },
  'POST /confirm': {
    summary: 'Confirm a subscription (the page’s button)',
    description: 'Records the confirmation once; marketing mail may start. A repeat changes nothing.',
    security: [],
    parameters: [tokenParam],
    responses: { 200: { description: 'Confirmed (an HTML page)' }, 400: { description: 'A bad token (an HTML page)' } },
  },
  'GET /sending': {
    summary:
      'The reputation brake: whether marketing sending is paused, why, and the rolling bounce and complaint rates',
    security: [{ iam: [] }],
    responses: { 200: { description: '`{paused, reason, bounceRate, complaintRate, …}`' } },
  },
  'POST /sending/resume': {
    summary: 'Resume marketing sending after a pause (what was counted so far is not held against it again)',
    security: [{ iam: [] }],
    responses: { 200: { description: 'The brake’s state after resuming' } },
  },
};

/** The OpenAPI 3.1 document of the API, for the given server URL. */
export function openApiDocument(serverUrl: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [key, op] of Object.entries(OPERATIONS)) {
    const [method = '', path = ''] = key.split(' ');
    (paths[path] ??= {})[method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Leadloop API',
      version: '0.1.0',
      description: 'Capture, events and data requests of Leadloop (DESIGN §8).',
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      schemas: { FormSubmission: schema(FormSubmission), Event: schema(ApiEvent), Error: ErrorBody, Erasure },
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        iam: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'AWS Signature Version 4 (IAM) on AWS; `x-admin-key` on the local stack',
        },
      },
    },
  };
}
