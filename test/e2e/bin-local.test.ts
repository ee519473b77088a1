import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, isPortFree } from '../../lib/local/ports.js';

/** `npm start` (bin/local.ts) as a user runs it: as a child process, through tsx. */

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/local.ts with `env`; `until` may act on the output (e.g. send Ctrl-C) and the run ends when it exits. */
function runLocal(
  env: Record<string, string>,
  timeoutMs: number,
  until?: (stdout: string, child: ReturnType<typeof spawn>) => void,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, ['bin/local.ts'], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      until?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bin/local.ts did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm start', () => {
  let blocker: Server;
  let takenPort: number;

  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const address = blocker.address();
    takenPort = typeof address === 'object' && address !== null ? address.port : 0;
  });

  afterAll(async () => {
    await new Promise<void>((r) => blocker.close(() => r()));
  });

  it('exits 1 with one clear line naming the port and the variable when the port is taken', async () => {
    const run = await runLocal(
      {
        PORT: String(takenPort),
        DYNAMODB_PORT: String(await freePort()),
        SES_PORT: String(await freePort()),
        SFN_PORT: String(await freePort()),
        LEADLOOP_IN_MEMORY: '1',
      },
      30_000,
    );
    const ours = run.stderr.split('\n').filter((l) => l.startsWith('leadloop:'));

    expect(run.code).toBe(1);
    expect(ours).toHaveLength(1);
    expect(ours[0]).toContain(`port ${takenPort} is already in use`);
    expect(ours[0]).toContain('PORT=');
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  it('names DYNAMODB_PORT when that is the port taken', async () => {
    const run = await runLocal(
      {
        PORT: String(await freePort()),
        DYNAMODB_PORT: String(takenPort),
        SES_PORT: String(await freePort()),
        SFN_PORT: String(await freePort()),
        LEADLOOP_IN_MEMORY: '1',
      },
      30_000,
    );

    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`port ${takenPort} is already in use`);
    expect(run.stderr).toContain('DYNAMODB_PORT');
  });

  it('refuses a setting that is not a port with a clear message', async () => {
    const run = await runLocal({ PORT: 'three-thousand' }, 30_000);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('PORT must be a port number');
  });

  it(
    'starts, prints where everything listens and a first curl, and stops everything on Ctrl-C',
    { timeout: 120_000 },
    async () => {
      const ports = {
        PORT: await freePort(),
        DYNAMODB_PORT: await freePort(),
        SES_PORT: await freePort(),
        SFN_PORT: await freePort(),
      };
      let interrupted = false;
      const run = await runLocal(
        {
          PORT: String(ports.PORT),
          DYNAMODB_PORT: String(ports.DYNAMODB_PORT),
          SES_PORT: String(ports.SES_PORT),
          SFN_PORT: String(ports.SFN_PORT),
          LEADLOOP_IN_MEMORY: '1',
        },
        90_000,
        (stdout, child) => {
          if (!interrupted && stdout.includes('Ctrl-C stops everything')) {
            interrupted = true;
            child.kill('SIGINT');
          }
        },
      );

      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`http://127.0.0.1:${ports.PORT}`);
      expect(run.stdout).toContain(`http://127.0.0.1:${ports.DYNAMODB_PORT}`);
      expect(run.stdout).toContain(`http://127.0.0.1:${ports.SES_PORT}`);
      expect(run.stdout).toContain(`http://127.0.0.1:${ports.SFN_PORT}`);
      expect(run.stdout).toContain(`curl -i http://127.0.0.1:${ports.PORT}/forms/demo-request`);
      expect(run.stdout).toContain('x-admin-key: dev-admin-key');
      for (const port of Object.values(ports)) expect(await isPortFree(port)).toBe(true);
    },
  );
});
