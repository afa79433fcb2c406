// Launches headless Chromium set up for WebRTC tests (see the project's notes
// on headless Chromium): fake camera, no permission prompts, loopback ICE
// candidates, autoplaying audio.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's `chromium` package; override with CHROMIUM_PATH. */
export const chromiumPath = (): string => process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface LaunchOptions {
  /** Fake camera frame rate; Chromium's default is 20 and asking for more fails without this. */
  fps?: number;
}

export interface LaunchedBrowser {
  browser: Browser;
  /** Unique switch on the browser's command line, to find its processes after close(). */
  marker: string;
}

export async function launchChromium(opts: LaunchOptions = {}): Promise<LaunchedBrowser> {
  const exe = chromiumPath();
  if (!fs.existsSync(exe)) {
    throw new Error(`no Chromium at ${exe}: run scripts/install-system-deps.sh or set CHROMIUM_PATH`);
  }
  const marker = `--opencall-e2e-run=${randomUUID()}`;
  const fakeDevice = opts.fps
    ? `--use-fake-device-for-media-stream=fps=${opts.fps}`
    : '--use-fake-device-for-media-stream';
  const browser = await chromium.launch({
    executablePath: exe,
    headless: true,
    // Playwright mutes audio by default; receivers must play audio for audioLevel.
    ignoreDefaultArgs: ['--mute-audio'],
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      fakeDevice,
      '--use-fake-ui-for-media-stream',
      // Without it Chromium gathers no 127.0.0.1 candidate.
      '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
      marker,
    ],
  });
  return { browser, marker };
}

/** Pids of processes whose command line carries `marker`. */
export function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}
