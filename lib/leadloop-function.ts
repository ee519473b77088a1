import { Duration, Validations } from 'aws-cdk-lib';
import { Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, CfnFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: entries and the lock file are resolved from here, whatever the working directory. */
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The template metadata key naming each function's handler module (relative to the project root). */
export const HANDLER_METADATA_KEY = 'leadloop:handler';

/** Absolute path of a handler module, e.g. `handlerEntry('capture-form')` → `<root>/lambdas/handlers/capture-form.ts`. */
export function handlerEntry(name: string): string {
  return fileURLToPath(new URL(`../lambdas/handlers/${name}.ts`, import.meta.url));
}

/** Log levels understood by the Powertools logger. */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface LeadloopFunctionProps {
  /** Absolute path of the handler module (it exports `handler`); see `handlerEntry`. */
  readonly entry: string;
  /**
   * Extra environment variables, merged over the ones every function gets (`POWERTOOLS_SERVICE_NAME`,
   * `POWERTOOLS_METRICS_NAMESPACE`, `LOG_LEVEL`, `NODE_OPTIONS`).
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default - no description */
  readonly description?: string;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/**
 * The one Lambda function shape of Leadloop (STYLE §10): Node.js 22 on ARM64, X-Ray tracing, an explicit log group
 * with retention, and an ESM bundle built locally by esbuild (minified, with source maps, AWS SDK v3 left to the
 * runtime).
 *
 * The function's role starts with nothing but writing to its own log group (and X-Ray); each construct grants
 * what its function needs on top, e.g. `grantLeadTableData(table, fn, 'readWrite')` (lib/lead-store.ts).
 *
 * The log group and role are created next to the function (ids `<id>LogGroup`, `<id>Role`), because they must
 * exist before the function does.
 */
export class LeadloopFunction extends NodejsFunction {
  /** The log group the function writes to. */
  readonly functionLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: LeadloopFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    });
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${scope.node.path}/${id}`,
    });
    logGroup.grantWrite(role);

    super(scope, id, {
      entry: props.entry,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: fileURLToPath(new URL('../package-lock.json', import.meta.url)),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout ?? Duration.seconds(10),
      memorySize: props.memorySize ?? 256,
      description: props.description,
      role,
      logGroup,
      environment: {
        POWERTOOLS_SERVICE_NAME: 'leadloop',
        POWERTOOLS_METRICS_NAMESPACE: 'Leadloop',
        LOG_LEVEL: props.logLevel ?? 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        platform: 'node',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        externalModules: ['@aws-sdk/*'],
        // CommonJS dependencies bundled into an ES module still call `require` for Node built-ins.
        banner:
          "import { createRequire as __leadloopCreateRequire } from 'node:module'; const require = __leadloopCreateRequire(import.meta.url);",
      },
    });
    this.functionLogGroup = logGroup;

    // Active tracing, with X-Ray's wildcard permission in a policy of its own (rather than `tracing: ACTIVE`, which
    // puts it in the role's default policy), so that acknowledging it cannot hide a wildcard granted later.
    const cfnFunction = this.node.defaultChild;
    if (!(cfnFunction instanceof CfnFunction))
      throw new Error(`${this.node.path}: expected a CfnFunction as default child`);
    cfnFunction.tracingConfig = { mode: Tracing.ACTIVE };
    // Which source module the bundle was built from: how the local runtime (lib/local) runs the same code with the
    // same environment as the deployed function, reading only the template.
    cfnFunction.addMetadata(HANDLER_METADATA_KEY, relative(PROJECT_ROOT, props.entry).split(sep).join('/'));
    const xray = new Policy(this, 'XRayPolicy', {
      roles: [role],
      statements: [
        new PolicyStatement({ actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], resources: ['*'] }),
      ],
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'DESIGN §10 pins Node.js 22 (the runtime the handlers and the local stack are built and tested on).',
    });
    Validations.of(xray).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.',
    });
  }
}
