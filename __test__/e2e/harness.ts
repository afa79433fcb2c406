// Headless-browser end-to-end harness: one Chromium, one BrowserContext per
// participant, test pages served from 127.0.0.1, and a signaling bridge from
// each page (`window.signal(method, data)`) to a handler in the test process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, processesWith, type LaunchOptions } from './browser';
import { PageServer, type PageKind } from './pageServer';
import type { RemoteTrackStats } from './page/types';
import { sleep } from './waitFor';

export { waitFor, sleep } from './waitFor';
export type { RemoteTrackStats } from './page/types';

/** Answers a page's `window.signal(method, data)`; the result goes back to the page. */
export type SignalHandler = (method: string, data: unknown) => Promise<unknown> | unknown;

/** Screenshots land here; the folder is gitignored. */
export const ARTIFACTS_DIR = path.resolve(__dirname, '../../artifacts/e2e');

export class Participant {
  private handler: SignalHandler | null = null;
  /** Page errors and console errors, printed when a test wants to explain a failure. */
  readonly log: string[] = [];

  constructor(
    readonly name: string,
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  /** Sets where this page's signal() calls go. */
  onSignal(handler: SignalHandler): void {
    this.handler = handler;
  }

  /** @internal Called by the bridge. */
  async dispatch(method: string, data: unknown): Promise<unknown> {
    if (!this.handler) throw new Error(`${this.name}: signal('${method}') with no handler set`);
    return this.handler(method, data);
  }

  /** Calls `window.e2e[fn](...args)` in the page and returns its (serializable) result. */
  call<R = unknown>(fn: string, ...args: unknown[]): Promise<R> {
    return this.page.evaluate(
      ([name, argv]) => {
        const f = (window.e2e as Record<string, (...a: unknown[]) => unknown>)[name];
        if (typeof f !== 'function') throw new Error(`window.e2e.${name} is not a function`);
        return f(...argv);
      },
      [fn, args] as [string, unknown[]],
    ) as Promise<R>;
  }

  /** Receive figures of every remote track the page plays. */
  stats(): Promise<RemoteTrackStats[]> {
    return this.call<RemoteTrackStats[]>('stats');
  }

  /** Leaves: closes this participant's context (its pages, tracks and connections). */
  async close(): Promise<void> {
    await this.context.close();
  }

  /** Saves a PNG of the page under artifacts/e2e/ and returns its path. */
  async screenshot(label: string): Promise<string> {
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const file = path.join(ARTIFACTS_DIR, `${label}-${this.name}.png`.replace(/[^\w.-]+/g, '_'));
    await this.page.screenshot({ path: file });
    return file;
  }
}

export class E2eHarness {
  private readonly participants: Participant[] = [];
  private closed = false;

  private constructor(
    private readonly browser: Browser,
    private readonly marker: string,
    readonly server: PageServer,
  ) {}

  static async start(opts: LaunchOptions = {}): Promise<E2eHarness> {
    const server = await PageServer.start();
    try {
      const { browser, marker } = await launchChromium(opts);
      return new E2eHarness(browser, marker, server);
    } catch (err) {
      await server.close();
      throw err;
    }
  }

  /** Opens a page of the given kind in a fresh BrowserContext (its own storage, devices, permissions). */
  async join(name: string, kind: PageKind): Promise<Participant> {
    const context = await this.browser.newContext({ viewport: { width: 720, height: 540 } });
    const page = await context.newPage();
    const participant = new Participant(name, context, page);
    page.on('pageerror', (err) => participant.log.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (process.env.E2E_DEBUG) console.log(`[${name}] ${msg.type()}: ${msg.text()}`);
      if (msg.type() === 'error' || msg.type() === 'warning') {
        participant.log.push(`${msg.type()}: ${msg.text()}`);
      }
    });
    await page.exposeFunction('signal', (method: string, data: unknown) => participant.dispatch(method, data));
    await page.goto(this.server.url(kind));
    await page.waitForFunction(() => typeof window.e2e === 'object');
    this.participants.push(participant);
    return participant;
  }

  /** Page logs of every participant, for a failing test's message. */
  logs(): string {
    return this.participants.map((p) => `${p.name}:\n  ${p.log.join('\n  ')}`).join('\n');
  }

  /** Closes contexts, the browser and the server; kills any Chromium process left behind. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.participants.map((p) => p.context.close()));
    await this.browser.close().catch(() => undefined);
    await this.server.close();
    // browser.close() waits for the main process; give its children a moment, then
    // make sure nothing of this run outlives the test file.
    for (let i = 0; i < 20 && processesWith(this.marker).length > 0; i++) await sleep(50);
    for (const pid of processesWith(this.marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  /** Pids still alive from this run's browser (empty after close()). */
  leftoverProcesses(): number[] {
    return processesWith(this.marker);
  }
}
