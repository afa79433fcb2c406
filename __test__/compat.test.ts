/**
 * Drop-in compatibility, as a user meets it: the packed package installed
 * under the npm alias `mediasoup` in an empty project, and gateways written
 * for mediasoup 3.14 and 3.27 type-checked against it with `tsc --strict`,
 * unchanged. Then the alias is loaded for real to prove it runs.
 *
 * Slow (npm pack runs the build; npm install may reach the registry for
 * typescript and @types/node), so every step has a generous timeout.
 */
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repoRoot = path.resolve(__dirname, '..');
const fixtures = path.join(__dirname, 'compat');
const gateways = ['gateway-3.14.ts', 'gateway-3.27.ts'];

const STEP_TIMEOUT_MS = Number(process.env.OPENCALL_COMPAT_STEP_TIMEOUT_MS ?? 5 * 60_000);
// Packing runs `prepare` (native release build + tsc); a cold cargo build
// on a small machine takes longer than the other steps.
const PACK_TIMEOUT_MS = Number(process.env.OPENCALL_COMPAT_PACK_TIMEOUT_MS ?? 15 * 60_000);

jest.setTimeout(PACK_TIMEOUT_MS + 4 * STEP_TIMEOUT_MS);

// When jest runs under `npm test`, npm's lifecycle variables describe the
// opencall package; the nested npm commands must not inherit them.
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_(package|lifecycle)_/i.test(key) || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  env.npm_config_audit = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_update_notifier = 'false';
  return env;
}

function run(
  command: string,
  args: string[],
  cwd: string,
  timeout = STEP_TIMEOUT_MS,
): SpawnSyncReturns<string> {
  return spawnSync(command, args, {
    cwd,
    env: childEnv(),
    encoding: 'utf8',
    timeout,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** Fails with everything the command printed, so a CI log explains itself. */
function expectSuccess(what: string, result: SpawnSyncReturns<string>): void {
  if (result.status === 0) return;
  const reason = result.error
    ? `${result.error.message}`
    : result.signal
      ? `killed by ${result.signal}`
      : `exit code ${result.status}`;
  throw new Error(
    `${what} failed (${reason})\n--- stdout ---\n${result.stdout ?? ''}\n--- stderr ---\n${result.stderr ?? ''}`,
  );
}

describe('installed as `mediasoup` (npm alias)', () => {
  let workDir: string;
  let projectDir: string;

  beforeAll(() => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opencall-compat-'));
    const packDir = path.join(workDir, 'pack');
    projectDir = path.join(workDir, 'project');
    fs.mkdirSync(packDir);
    fs.mkdirSync(projectDir);

    expectSuccess(
      'npm pack',
      run('npm', ['pack', '--pack-destination', packDir], repoRoot, PACK_TIMEOUT_MS),
    );
    // Found on disk rather than parsed from stdout, which the build's output
    // shares.
    const tarballs = fs.readdirSync(packDir).filter((name) => name.endsWith('.tgz'));
    if (tarballs.length !== 1) {
      throw new Error(`expected one tarball from npm pack, found: ${tarballs.join(', ') || 'none'}`);
    }
    const tarball = path.join(packDir, tarballs[0]);

    fs.writeFileSync(
      path.join(projectDir, 'package.json'),
      JSON.stringify({ name: 'opencall-compat-gateway', version: '1.0.0', private: true }, null, 2),
    );
    expectSuccess(
      'npm install',
      run(
        'npm',
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          `mediasoup@file:${tarball}`,
          'typescript@5',
          '@types/node',
        ],
        projectDir,
      ),
    );

    for (const gateway of gateways) {
      fs.copyFileSync(path.join(fixtures, gateway), path.join(projectDir, gateway));
    }
  });

  afterAll(() => {
    if (workDir && !process.env.OPENCALL_COMPAT_KEEP) {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  });

  test('the alias resolves to opencall', () => {
    const manifest = JSON.parse(
      fs.readFileSync(path.join(projectDir, 'node_modules', 'mediasoup', 'package.json'), 'utf8'),
    );
    expect(manifest.name).toBe('opencall');
  });

  test.each(gateways)('%s type-checks with tsc --strict', (gateway) => {
    const tsc = path.join(projectDir, 'node_modules', 'typescript', 'bin', 'tsc');
    // No skipLibCheck: the package's own declaration files are checked too,
    // against whatever @types/node a user gets today.
    const result = run(
      process.execPath,
      [
        tsc,
        '--strict',
        '--noEmit',
        '--target',
        'es2022',
        '--module',
        'commonjs',
        '--moduleResolution',
        'node',
        '--types',
        'node',
        gateway,
      ],
      projectDir,
    );
    expectSuccess(`tsc --strict ${gateway}`, result);
  });

  test('require("mediasoup") creates and closes a worker', () => {
    const script = `
      const mediasoup = require('mediasoup');
      mediasoup.createWorker({ logLevel: 'warn' })
        .then((worker) => {
          if (typeof worker.pid !== 'number') throw new Error('worker.pid is not a number');
          worker.close();
          if (!worker.closed) throw new Error('worker.closed is false after close()');
          console.log('worker ok, version ' + mediasoup.version);
          process.exit(0);
        })
        .catch((error) => {
          console.error(error);
          process.exit(1);
        });
    `;
    const result = run(process.execPath, ['-e', script], projectDir);
    expectSuccess('node -e createWorker()', result);
    expect(result.stdout).toContain('worker ok');
  });
});
