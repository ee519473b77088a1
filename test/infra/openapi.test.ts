import { describe, expect, it } from 'vitest';
import { readDeployment } from '../../lib/local/deployment.js';
import { Template } from '../../lib/local/intrinsics.js';
import { OPERATIONS, openApiDocument } from '../../lib/openapi.js';
import { synthLeadloop } from './synth.js';

/** The OpenAPI document (issue 17) against the API the stack deploys: every route documented, nothing else. */

const { template } = synthLeadloop();
const deployment = readDeployment(Template.parse(template.toJSON()), { region: 'us-east-1', apiUrl: 'http://x' });
const routes = deployment.api.routes.map((r) => `${r.method} ${r.resource}`).sort();

describe('the OpenAPI document', () => {
  it('documents exactly the routes of the synthesized API', () => {
    expect(Object.keys(OPERATIONS).sort()).toEqual(routes);
  });

  it('says how each route is authorized, as the template does', () => {
    for (const r of deployment.api.routes) {
      const security = OPERATIONS[`${r.method} ${r.resource}`]?.security;
      expect(security, `${r.method} ${r.resource}`).toEqual(
        r.auth === 'public' ? [] : r.auth === 'api-key' ? [{ apiKey: [] }] : [{ iam: [] }],
      );
    }
  });

  it('documents erasure: DELETE answers 202 with its status resource, or 204; the status resource 200 or 404', () => {
    const del = OPERATIONS['DELETE /leads/{leadId}']?.responses as Record<string, { headers?: object }>;
    expect(Object.keys(del).sort()).toEqual(['202', '204', '404']);
    expect(del['202']?.headers).toHaveProperty('Location');
    const status = OPERATIONS['GET /leads/{leadId}/erasure']?.responses as Record<string, unknown>;
    expect(Object.keys(status).sort()).toEqual(['200', '404']);
  });

  it('is OpenAPI 3.1 with the request schemas the handlers validate with', () => {
    const doc = openApiDocument('https://api.example.com/v1/');
    const schemas = (doc.components as { schemas: Record<string, { properties?: Record<string, unknown> }> }).schemas;

    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(schemas.FormSubmission?.properties ?? {})).toEqual(
      expect.arrayContaining(['email', 'jobTitle', 'budget', 'consent', 'website', 'redirect', 'utm_source']),
    );
    expect(schemas.Event?.properties?.type).toMatchObject({ enum: expect.arrayContaining(['demo_requested']) });
  });
});
