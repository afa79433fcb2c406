import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');

/** Runs a small program against the built package in a fresh Node process. */
function runNode(code: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string; ms: number } {
  const started = Date.now();
  const result = spawnSync(process.execPath, ['-e', code], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, ms: Date.now() - started };
}


// The tests load the TypeScript sources through ts-jest elsewhere; here a
// child process needs plain JS, so it loads the compiled package (dist/).
const load = `const mediasoup = require('./dist/index.js');`;

describe('the Node process around workers', () => {
  test('exits by itself once every worker is closed (no handle keeps the loop alive)', () => {
    const { status, stdout, stderr, ms } = runNode(`
      ${load}
      (async () => {
        const workers = await Promise.all([mediasoup.createWorker(), mediasoup.createWorker()]);
        for (const w of workers) {
          const router = await w.createRouter({ mediaCodecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }] });
          await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
        }
        workers.forEach((w) => w.close());
        console.log('closed');
      })();
    `);
    expect(stderr).toBe('');
    expect(stdout.trim()).toBe('closed');
    expect(status).toBe(0);
    // Well under the spawn timeout: it ended on its own, it was not killed.
    expect(ms).toBeLessThan(10_000);
  });

  test('keeps running while a worker is open', () => {
    const { status, stdout } = runNode(`
      ${load}
      mediasoup.createWorker().then((w) => {
        setTimeout(() => { console.log('still alive'); w.close(); }, 300);
      });
    `);
    expect(stdout.trim()).toBe('still alive');
    expect(status).toBe(0);
  });

  test('DEBUG=opencall:* prints the JS and native log namespaces', () => {
    const { status, stderr, stdout } = runNode(
      `
      ${load}
      (async () => {
        const w = await mediasoup.createWorker({ logLevel: 'debug' });
        await w.createRouter();
        await w.dump();
        await new Promise((r) => setTimeout(r, 50));
        w.close();
      })();
    `,
      { DEBUG: 'opencall:*', DEBUG_COLORS: 'false' },
    );
    expect(status).toBe(0);
    const output = stdout + stderr;
    expect(output).toMatch(/opencall:Worker constructor\(\)/);
    expect(output).toMatch(/opencall:Worker:native router created/);
  });
});
