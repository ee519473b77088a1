import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { HANDLER_METADATA_KEY } from '../../lib/leadloop-function.js';
import { synthLeadloop } from './synth.js';

/**
 * What ships in each Lambda: every function's handler bundled the way its NodejsFunction bundles it (esbuild, ESM,
 * node22, the AWS SDK left to the runtime), checked for local-only code. The local runtime lives in lib/local and
 * reaches handlers through endpoints only, so no bundle may pull in anything outside lambdas/ and node_modules, nor
 * carry the local runtime's routes, variables or secrets.
 */

const { template } = synthLeadloop();
const handlers = Object.values(template.findResources('AWS::Lambda::Function')).map(
  (f) => (f.Metadata as Record<string, string>)[HANDLER_METADATA_KEY] ?? '',
);

describe('Lambda bundles', () => {
  it('cover every function of the stack', () => {
    expect(handlers).toHaveLength(17);
    expect(handlers.every((h) => h.startsWith('lambdas/handlers/'))).toBe(true);
  });

  it.each(handlers)('%s bundles only lambdas/ and its dependencies, with no local-only code', async (entry) => {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      mainFields: ['module', 'main'],
      external: ['@aws-sdk/*'],
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    const text = result.outputFiles.map((f) => f.text).join('\n');

    expect(inputs.filter((i) => !i.startsWith('lambdas/') && !i.startsWith('node_modules/'))).toEqual([]);
    expect(text).not.toMatch(/_local\/|LEADLOOP_LOCAL|local-tracking|leadloop-local|DYNAMODB_ENDPOINT|SES_ENDPOINT/);
  });
});
