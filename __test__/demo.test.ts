// The example gateway end to end: `examples/gateway/server.js` runs as a child
// process (as `npm start` runs it), three headless Chromium users open its
// call page, join one room and watch it go P2P → SFU, mute and unmute, chat,
// and back to P2P when one leaves; /metrics must report the call and its
// transitions. Screenshots of each
// state land in artifacts/demo/ (gitignored).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, processesWith } from './e2e/browser';
import { sleep, waitFor } from './e2e/waitFor';

const ROOT = path.resolve(__dirname, '..');
const ARTIFACTS = path.join(ROOT, 'artifacts/demo');
const ROOM = `demo-${process.pid}`;

jest.setTimeout(90_000);

interface User {
  name: string;
  page: Page;
  log: string[];
}

let gateway: ChildProcess | undefined;
let gatewayLog = '';
let browser: Browser | undefined;
let marker = '';
let origin = '';
const users: User[] = [];

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startGateway(): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'examples/gateway/server.js')], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      MEDIASOUP_NUM_WORKERS: '1',
      P2P_PARTICIPANT_LIMIT: '2',
      RTC_MIN_PORT: '42000',
      RTC_MAX_PORT: '42999',
      DEBUG: process.env.DEBUG ?? 'opencall:gateway',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  gateway = child;
  child.stdout.on('data', (d: Buffer) => (gatewayLog += d.toString()));
  child.stderr.on('data', (d: Buffer) => (gatewayLog += d.toString()));
  // The first start may build the page bundle: allow for it.
  return waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`gateway exited (${child.exitCode}):\n${gatewayLog}`);
      return /gateway: (http:\/\/localhost:\d+)/.exec(gatewayLog)?.[1];
    },
    { timeoutMs: 30_000, what: 'the gateway to print its URL', diagnose: () => gatewayLog },
  );
}

async function openUser(name: string): Promise<User> {
  const context = await browser!.newContext({ viewport: { width: 960, height: 600 } });
  const page = await context.newPage();
  const user = { name, page, log: [] as string[] };
  page.on('pageerror', (err) => user.log.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (process.env.E2E_DEBUG) console.log(`[${name}] ${msg.type()}: ${msg.text()}`);
    if (msg.type() === 'error') user.log.push(msg.text());
  });
  await page.goto(origin);
  users.push(user);
  return user;
}

async function join(user: User): Promise<void> {
  await user.page.fill('#name', user.name);
  await user.page.fill('#room', ROOM);
  await user.page.click('#join');
  await user.page.waitForSelector('#call:not([hidden])', { timeout: 10_000 });
}

/** The indicator as the user reads it. */
const indicator = (user: User) =>
  user.page.evaluate(() => {
    const root = document.getElementById('indicator')!;
    return {
      mode: root.dataset.mode,
      transitioning: root.dataset.transitioning === 'true',
      count: Number(document.getElementById('participant-count')!.textContent),
      label: document.getElementById('mode')!.textContent,
    };
  });

async function waitForIndicator(group: User[], mode: string, count: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => {
      const states = await Promise.all(group.map(indicator));
      return states.every((s) => s.mode === mode && !s.transitioning && s.count === count);
    },
    {
      timeoutMs,
      what: `${group.map((u) => u.name).join(', ')} to show ${mode.toUpperCase()} with ${count}`,
      diagnose: async () => ({ states: await Promise.all(group.map(indicator)), ...diagnostics() }),
    },
  );
}

/** Remote camera tiles whose video is decoding frames, per participant id. */
const playingRemoteVideos = (user: User) =>
  user.page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('.tile.camera:not(.local)')]
      .filter((tile) => {
        const video = tile.querySelector('video')!;
        return video.readyState >= 2 && video.videoWidth > 0 && !video.paused;
      })
      .map((tile) => tile.dataset.participant!),
  );

/** Waits until every user decodes video from all the others, and it keeps progressing. */
async function waitForVideo(group: User[]): Promise<void> {
  const frames = (user: User) =>
    user.page.evaluate(() =>
      [...document.querySelectorAll<HTMLVideoElement>('.tile.camera:not(.local) video')].map(
        (v) => v.getVideoPlaybackQuality().totalVideoFrames,
      ),
    );
  await waitFor(
    async () => (await Promise.all(group.map(playingRemoteVideos))).every((ids) => ids.length === group.length - 1),
    { timeoutMs: 15_000, what: 'remote video on every page', diagnose: diagnostics },
  );
  const before = await Promise.all(group.map(frames));
  await waitFor(
    async () => {
      const after = await Promise.all(group.map(frames));
      return after.every((counts, i) => counts.length > 0 && counts.every((n, j) => n > (before[i][j] ?? 0)));
    },
    { timeoutMs: 10_000, what: 'remote video to keep decoding', diagnose: diagnostics },
  );
}

const selfId = (user: User) =>
  user.page.evaluate(() => document.querySelector<HTMLElement>('.tile.local')?.dataset.participant ?? '');

/** The media state `viewer` shows on `subjectId`'s tile. */
const tileMedia = (viewer: User, subjectId: string) =>
  viewer.page.evaluate((id) => {
    const tile = document.querySelector<HTMLElement>(`.tile.camera[data-participant="${id}"]`);
    return tile ? { audio: tile.dataset.audio, video: tile.dataset.video } : null;
  }, subjectId);

async function screenshots(state: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await Promise.all(
    users.map((u) => u.page.screenshot({ path: path.join(ARTIFACTS, `${state}-${u.name.toLowerCase()}.png`) })),
  );
}

function diagnostics(): Record<string, unknown> {
  return {
    pageLogs: Object.fromEntries(users.map((u) => [u.name, u.log.slice(-10)])),
    gateway: gatewayLog.split('\n').slice(-15),
  };
}

async function metrics(): Promise<string> {
  const res = await fetch(`${origin}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one sample line of the exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]] as [string, string]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
  }
  return undefined;
}

beforeAll(async () => {
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  origin = await startGateway();
  ({ browser, marker } = await launchChromium());
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  for (let i = 0; i < 20 && marker && processesWith(marker).length > 0; i++) await sleep(50);
  for (const pid of marker ? processesWith(marker) : []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (gateway && gateway.exitCode === null) {
    const child = gateway;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const deadline = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(deadline);
  }
});

test('three users: P2P → SFU, mute and unmute, chat, metrics, back to P2P', async () => {
  const health = await fetch(`${origin}/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: 'ok' });

  const [alice, bob, carol] = [await openUser('Alice'), await openUser('Bob'), await openUser('Carol')];
  await screenshots('0-lobby');

  // Two people: a direct call.
  await join(alice);
  await join(bob);
  await waitForIndicator([alice, bob], 'p2p', 2);
  await waitForVideo([alice, bob]);
  await screenshots('1-p2p');

  // Record what Alice's indicator says while the third person joins.
  await alice.page.evaluate(() => {
    const seen: string[] = ((window as unknown as { transitionLabels: string[] }).transitionLabels = []);
    const label = document.getElementById('transition')!;
    new MutationObserver(() => {
      if (!label.hidden && label.textContent) seen.push(label.textContent);
    }).observe(label, { attributes: true, childList: true, characterData: true, subtree: true });
  });
  // Best effort: the switch may be over before a screenshot is taken.
  const transitionShot = alice.page
    .waitForSelector('#transition:not([hidden])', { timeout: 10_000 })
    .then(() => alice.page.screenshot({ path: path.join(ARTIFACTS, '2-upgrading-alice.png') }))
    .catch(() => undefined);
  await join(carol);
  await waitForIndicator([alice, bob, carol], 'sfu', 3);
  await transitionShot;
  expect(await indicator(alice)).toMatchObject({ label: 'SFU' });
  const labels = await alice.page.evaluate(() => (window as unknown as { transitionLabels: string[] }).transitionLabels);
  expect(labels).toContain('Upgrading call…');
  await waitForVideo([alice, bob, carol]);
  // The indicator's quality figures come from the SFU transports' stats.
  await waitFor(
    async () =>
      (
        await Promise.all(
          users.map((u) =>
            u.page.evaluate(() => ['q-bitrate', 'q-loss', 'q-rtt'].map((id) => document.getElementById(id)!.textContent)),
          ),
        )
      ).every((figures) => figures.every((f) => f !== '–')),
    { timeoutMs: 10_000, what: 'quality figures on every indicator', diagnose: diagnostics },
  );
  await screenshots('2-sfu');

  // Alice mutes her microphone and stops her camera: everyone sees it.
  const aliceId = await selfId(alice);
  expect(aliceId).not.toBe('');
  await alice.page.click('#toggle-audio');
  await alice.page.click('#toggle-video');
  await alice.page.waitForSelector('#toggle-audio[aria-pressed="false"]', { timeout: 5_000 });
  await alice.page.waitForSelector('#toggle-video[aria-pressed="false"]', { timeout: 5_000 });
  await waitFor(
    async () =>
      (await Promise.all([bob, carol].map((u) => tileMedia(u, aliceId)))).every(
        (m) => m?.audio === 'off' && m?.video === 'off',
      ),
    { what: "Alice's tile muted on Bob's and Carol's pages", diagnose: diagnostics },
  );
  await screenshots('3-muted');

  await alice.page.click('#toggle-audio');
  await alice.page.click('#toggle-video');
  await alice.page.waitForSelector('#toggle-audio[aria-pressed="true"]', { timeout: 5_000 });
  await alice.page.waitForSelector('#toggle-video[aria-pressed="true"]', { timeout: 5_000 });
  await waitFor(
    async () =>
      (await Promise.all([bob, carol].map((u) => tileMedia(u, aliceId)))).every(
        (m) => m?.audio === 'on' && m?.video === 'on',
      ),
    { what: "Alice's tile unmuted on Bob's and Carol's pages", diagnose: diagnostics },
  );
  await waitForVideo([alice, bob, carol]);
  await screenshots('4-unmuted');

  // Chat: Bob writes, all three read it.
  const text = `hello from Bob ${Date.now()}`;
  await bob.page.fill('#chat-input', text);
  await bob.page.click('#chat-send');
  await waitFor(
    async () =>
      (
        await Promise.all(
          users.map((u) => u.page.evaluate((t) => document.getElementById('chat-log')!.textContent!.includes(t), text)),
        )
      ).every(Boolean),
    { what: 'the chat message on all three pages', diagnose: diagnostics },
  );
  await screenshots('5-chat');

  // The gateway's metrics while the call is on the SFU: one call of three, one
  // completed P2P → SFU switch, media forwarded.
  const text1 = await metrics();
  expect(sample(text1, 'opencall_calls', { mode: 'sfu' })).toBe(1);
  expect(sample(text1, 'opencall_calls', { mode: 'p2p' })).toBe(0);
  expect(sample(text1, 'opencall_participants', { mode: 'sfu' })).toBe(3);
  expect(
    sample(text1, 'opencall_transitions_completed_total', { from: 'p2p', to: 'sfu', trigger: 'participant-joined' }),
  ).toBe(1);
  expect(sample(text1, 'opencall_transitions_failed_total') ?? 0).toBe(0);
  expect(sample(text1, 'opencall_sfu_ice_restarts_total')).toBe(0);
  expect(sample(text1, 'opencall_transition_duration_seconds_count', { from: 'p2p', to: 'sfu' })).toBe(1);
  expect(sample(text1, 'opencall_forwarded_packets_total', { kind: 'video' })).toBeGreaterThan(0);
  expect(sample(text1, 'opencall_forwarded_bytes_total', { kind: 'audio' })).toBeGreaterThan(0);
  expect(sample(text1, 'opencall_workers')).toBe(1);
  expect(text1).toMatch(/^opencall_worker_cpu_seconds_total\{worker="\d+",mode="user"\} /m);


  // Carol leaves: after the hysteresis delay (10 s) the call returns to P2P,
  // and the chat stays.
  await carol.page.click('#leave');
  await carol.page.waitForSelector('#lobby:not([hidden])', { timeout: 5_000 });
  expect(await carol.page.isVisible('#lobby-error')).toBe(false);
  await waitForIndicator([alice, bob], 'p2p', 2, 25_000);
  await waitForVideo([alice, bob]);
  expect(await alice.page.textContent('#chat-log')).toContain(text);
  await screenshots('6-back-to-p2p');
  const text2 = await metrics();
  expect(sample(text2, 'opencall_calls', { mode: 'p2p' })).toBe(1);
  expect(
    sample(text2, 'opencall_transitions_completed_total', { from: 'sfu', to: 'p2p', trigger: 'participant-left' }),
  ).toBe(1);

  expect(users.flatMap((u) => u.log.filter((l) => l.startsWith('pageerror')))).toEqual([]);
});
