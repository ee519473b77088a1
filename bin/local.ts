/**
 * `npm start`: the whole of Leadloop on this machine, no AWS account and no Docker (DESIGN §9). Settings come from
 * the environment; see lib/local/settings.ts. Ctrl-C stops everything it started.
 */
import { isAbsolute, relative } from 'node:path';
import { isPortFree } from '../lib/local/ports.js';
import {
  PORT_VARIABLES,
  readSettings,
  SettingsError,
  type LocalSettings,
  type PortSetting,
} from '../lib/local/settings.js';
import { DataDirInUseError, PortInUseError, startLocalStack, type LocalStack } from '../lib/local/stack.js';

/** Prints one line and exits 1: for problems the user can fix, a stack trace only gets in the way. */
function fail(message: string): never {
  console.error(`leadloop: ${message}`);
  process.exit(1);
}

function portTaken(port: number, setting: PortSetting): string {
  const variable = PORT_VARIABLES[setting];
  return `port ${port} is already in use; stop what is using it, or pick another port with ${variable} (e.g. ${variable}=${port + 1} npm start)`;
}

function banner(stack: LocalStack, settings: LocalSettings): string {
  const inCwd = settings.dataDir ? relative(process.cwd(), settings.dataDir) : undefined;
  const dataDir =
    inCwd === undefined ? undefined : inCwd.startsWith('..') || isAbsolute(inCwd) ? settings.dataDir : inCwd || '.';
  const day = settings.daySeconds === 86_400 ? 'real time' : `1 simulated day = ${settings.daySeconds} s`;
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const lines = [
    '',
    `Leadloop is running (${dataDir ? `data in ${dataDir}/` : 'in memory, nothing is kept'}; ${day})`,
    '',
    `  API and landing page   ${stack.url}`,
    `  DynamoDB Local         ${stack.dynamoDbEndpoint}   table ${stack.tableName}`,
    `  Local SES (sent mail)  ${stack.sesEndpoint}`,
    `  Step Functions, EventBridge, Secrets Manager, SQS  ${stack.awsEndpoint}   (aws … --endpoint-url ${stack.awsEndpoint})`,
    `  Console                ${stack.url}/_local/   (funnel, leads, runs, sweeps, reports)`,
    `  Nurture runs           ${stack.url}/_local/runs   (tracks ${Object.keys(stack.trackArns).join(', ')})`,
    `  OpenAPI document       ${stack.url}/_local/openapi.json`,
    `  Functions              ${Object.keys(stack.functionIds).length} from the synthesized template, each with its own environment`,
    `  Requalification        ${stack.deployment.schedules.map((s) => s.expression).join(', ')} on the simulated clock; POST ${stack.url}/_local/sweep runs one now`,
    `  SES loop-back          POST ${stack.url}/_local/ses, or npm run leadloop -- inject bounce --email a@b.com`,
    `  Sales webhook          ${settings.salesWebhookUrl ?? 'none (set LEADLOOP_SALES_WEBHOOK_URL to receive LeadPromoted)'}`,
    '',
    `  x-api-key    ${stack.apiKey}     (POST /events)`,
    `  x-admin-key  ${stack.adminKey}   (GET /leads, /leads/{leadId}, export, DELETE)`,
    '',
    'Submit a first form, then read the lead back:',
    '',
    `  curl -i ${stack.url}/forms/demo-request -d email=ada@example.com -d firstName=Ada -d company=Analytical+Engines -d jobTitle=CTO -d consent=yes`,
    `  curl -s ${q(`${stack.url}/leads?email=ada%40example.com`)} -H ${q(`x-admin-key: ${stack.adminKey}`)}`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  let settings: LocalSettings;
  try {
    settings = readSettings(process.env);
  } catch (e) {
    if (e instanceof SettingsError) fail(e.message);
    throw e;
  }
  for (const setting of ['port', 'dynamoDbPort', 'sesPort', 'sfnPort'] as const) {
    if (!(await isPortFree(settings[setting]))) fail(portTaken(settings[setting], setting));
  }

  console.log('Starting Leadloop (DynamoDB Local takes a few seconds)…');
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      port: settings.port,
      dynamoDbPort: settings.dynamoDbPort,
      sesPort: settings.sesPort,
      sfnPort: settings.sfnPort,
      apiKey: settings.apiKey,
      adminKey: settings.adminKey,
      daySeconds: settings.daySeconds,
      ...(settings.dataDir ? { dataDir: settings.dataDir } : { inMemory: true }),
      ...(settings.allowedOrigins && { allowedOrigins: settings.allowedOrigins }),
      // The stack's own sales webhook (what `cdk deploy -c salesWebhookUrl=…` deploys), pointed at this URL.
      ...(settings.salesWebhookUrl && {
        context: {
          salesWebhookUrl: settings.salesWebhookUrl,
          ...(settings.salesWebhookAuth && {
            salesWebhookAuthHeader: settings.salesWebhookAuth.header,
            salesWebhookAuthSecret: 'local-sales-webhook-credential',
          }),
        },
        ...(settings.salesWebhookAuth && { salesWebhookAuth: settings.salesWebhookAuth.value }),
      }),
    });
  } catch (e) {
    if (e instanceof PortInUseError) fail(portTaken(e.port, e.setting));
    if (e instanceof DataDirInUseError) fail(e.message);
    throw e;
  }
  console.log(banner(stack, settings));

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.error(`leadloop: ${signal} again, exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    console.log('\nStopping Leadloop…');
    stack.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error('leadloop: stopping failed:', e);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((e: unknown) => {
  console.error('leadloop: could not start:', e);
  process.exit(1);
});
