import * as fs from 'node:fs';

/** What /proc says about this process: the figures a leak would move. */
export type ProcessFootprint = { threads: number; fds: number; rssKiB: number };

export function processFootprint(): ProcessFootprint {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const field = (name: string): number => {
    const match = status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'));
    if (!match) throw new Error(`no ${name} in /proc/self/status`);
    return Number(match[1]);
  };
  return {
    threads: field('Threads'),
    fds: fs.readdirSync('/proc/self/fd').length,
    rssKiB: field('VmRSS'),
  };
}

/** Lets the JS side settle (pending closes, finalizers) before measuring. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    (global as any).gc?.();
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
}
