/**
 * `npm run bench -- coldstart`: what each Lambda loads on a cold start. Every function of the synthesized stack is
 * bundled exactly as its NodejsFunction bundles it (esbuild, ESM, node22, minified, with a source map, the AWS SDK left
 * to the runtime), then imported in fresh Node processes: the bundle's size, its source map's, the import time with
 * and without `--enable-source-maps` (the functions' NODE_OPTIONS), as ratios of importing an empty module in the same
 * run, and the three largest inputs of each bundle (where trimming would pay).
 *
 * Options: `--runs N` fresh processes per measure (default 7; the median is printed).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { synthesizeTemplate } from '../lib/local/deployment.js';
import { HANDLER_METADATA_KEY } from '../lib/leadloop-function.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
const runs = Math.max(1, Number(values.runs));
const outDir = join(process.cwd(), 'node_modules', '.cache', 'leadloop-coldstart');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KB`;

/** The median import time (ms) of `file` in `runs` fresh processes, measured inside each one. */
function importMs(file: string, flags: string[] = []): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
      env: {
        PATH: process.env.PATH,
        AWS_REGION: 'us-east-1',
        POWERTOOLS_SERVICE_NAME: 'leadloop',
        POWERTOOLS_METRICS_NAMESPACE: 'Leadloop',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      encoding: 'utf8',
    });
    times.push(Number(out));
  }
  return median(times);
}

const { template } = synthesizeTemplate();
const entries = [
  ...new Set(
    Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((r) => (r.Metadata as Record<string, string> | undefined)?.[HANDLER_METADATA_KEY])
      .filter((h): h is string => typeof h === 'string'),
  ),
].sort();

const empty = join(outDir, 'empty.mjs');
writeFileSync(empty, 'export {};\n');
const baseline = importMs(empty);
const sdkOnly = join(outDir, 'sdk.mjs');
writeFileSync(sdkOnly, "import '@aws-sdk/client-dynamodb';\n");
const sdk = importMs(sdkOnly);

console.log(
  `${entries.length} functions, ${runs} fresh processes per measure (median); baseline: importing an empty module ${baseline.toFixed(1)} ms, the DynamoDB client alone ${sdk.toFixed(1)} ms\n`,
);
console.log(
  '| function | bundle | source map | import | with --enable-source-maps | ratio to empty module | largest inputs |',
);
console.log('|---|---|---|---|---|---|---|');
let total = 0;
for (const entry of entries) {
  const name = entry.replace(/^.*\//, '').replace(/\.ts$/, '');
  const result = await build({
    entryPoints: [entry],
    outfile: join(outDir, `${name}.mjs`),
    bundle: true,
    metafile: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    external: ['@aws-sdk/*'],
    banner: {
      js: "import { createRequire as __leadloopCreateRequire } from 'node:module'; const require = __leadloopCreateRequire(import.meta.url);",
    },
    logLevel: 'silent',
  });
  const file = join(outDir, `${name}.mjs`);
  const size = statSync(file).size;
  const mapSize = statSync(`${file}.map`).size;
  total += size;
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint === entry);
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input.split('/').slice(0, 2).join('/');
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + bytesInOutput);
  }
  const largest = [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([pkg, bytes]) => `${pkg} ${kb(bytes)}`)
    .join(', ');
  const plain = importMs(file);
  const mapped = importMs(file, ['--enable-source-maps']);
  console.log(
    `| ${name} | ${kb(size)} | ${kb(mapSize)} | ${plain.toFixed(1)} ms | ${mapped.toFixed(1)} ms | ${(plain / baseline).toFixed(1)}× | ${largest} |`,
  );
}
console.log(`\nall bundles: ${kb(total)}`);
