import { readDeployment, synthesizeTemplate, type LocalDeployment } from '../../lib/local/deployment.js';
import type { Template } from '../../lib/local/intrinsics.js';
import { LocalLambda, type LogLine } from '../../lib/local/lambda.js';

/**
 * The synthesized stack for tests that run what deploys: the template (synthesized once per test file) read as the
 * local runtime reads it, on a given table, and a local Lambda invoker running its functions with their template
 * environments plus the endpoints a test points them at.
 */

let synthesized: Template | undefined;

/** The Leadloop template, synthesized once per process (about a second). */
export function testTemplate(): Template {
  return (synthesized ??= synthesizeTemplate().template);
}

/** The deployment as the local runtime reads it, its table named `tableName`. */
export function testDeployment(tableName: string, opts: { apiUrl?: string } = {}): LocalDeployment {
  const template = testTemplate();
  const tableId = Object.keys(template.Resources).find((id) => template.Resources[id]?.Type === 'AWS::DynamoDB::Table');
  return readDeployment(template, {
    region: 'us-east-1',
    apiUrl: opts.apiUrl ?? 'http://127.0.0.1:3000',
    names: tableId ? { [tableId]: tableName } : {},
  });
}

/** The template's suppression key secret (data rights), as the local runtime reads it. */
export function suppressionKeySecret(deployment: LocalDeployment): LocalDeployment['secrets'][string] {
  const secret = Object.values(deployment.secrets).find((s) => s.logicalId.startsWith('DataRightsSuppressionKey'));
  if (!secret) throw new Error('the template has no suppression key secret');
  return secret;
}

/** The table's properties as the template declares them (for `ensureTable`). */
export function tableProperties(): unknown {
  const template = testTemplate();
  return Object.values(template.Resources).find((r) => r.Type === 'AWS::DynamoDB::Table')?.Properties;
}

/**
 * The table's properties for a table on the test run's shared DynamoDB Local: the template's, without the stream.
 * DynamoDB Local slows with every stream record it has kept, deleted tables' included (measured: the same 11,933
 * items seeded in 10 s, 58 s, then 132 s into three successive tables, each deleted after its seed; 9 s, 5 s and 5 s
 * without streams), and tests other than the stream tests deliver records themselves. A test file that reads the
 * stream imports `./stream-table.js` first: a DynamoDB Local of its own, with the template's table.
 */
export function sharedTableProperties(): unknown {
  const { StreamSpecification: _stream, ...rest } = tableProperties() as Record<string, unknown>;
  return rest;
}

/**
 * A local Lambda invoker for the deployment's functions: DynamoDB Local of the test run (globalSetup), local
 * credentials, quiet logs (errors are collected in `errors`), plus `environment` (other endpoints, the scaled clock).
 */
export function testLambda(
  deployment: LocalDeployment,
  environment: Record<string, string> = {},
  opts: { timeoutOverridesMs?: Record<string, number> } = {},
): LocalLambda & { errors: string[] } {
  const errors: string[] = [];
  const lambda = new LocalLambda({
    ...opts,
    functions: deployment.functions,
    region: 'us-east-1',
    baseEnvironment: {
      AWS_ENDPOINT_URL_DYNAMODB: process.env.AWS_ENDPOINT_URL_DYNAMODB ?? '',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...environment,
    },
    onLog: (l: LogLine) => {
      if (/"level":"(ERROR|CRITICAL)"/.test(l.line)) errors.push(`${l.functionName}: ${l.line}`);
    },
  });
  return Object.assign(lambda, { errors });
}
