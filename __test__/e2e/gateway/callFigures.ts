// What the call tests measure (switch durations, decode gaps) and print next
// to the issue's targets, and the wait for remote videos decoding over a
// given mode. Figures are printed as measured; assertions use generous bounds only (the
// test machine is small and shared).
import type { Participant } from '../harness';
import type { CallPageRemote, CallPageState, GapFigures } from '../page/call-types';
import { waitFor } from '../waitFor';

export const TARGETS = { p2pToSfuMs: 250, sfuToP2pMs: 1_000, mediaGapMs: 100 } as const;

/** Every listed remote participant's video rendered from `mode` and decoding, still growing. */
export async function waitForDecoding(
  p: Participant,
  remoteIds: string[],
  mode: 'p2p' | 'sfu',
  timeoutMs = 20_000,
): Promise<CallPageRemote[]> {
  const diagnose = async (): Promise<unknown> => ({
    page: p.name,
    remotes: await p.call('remotes').catch((e: Error) => e.message),
    state: await p.call('state').catch((e: Error) => e.message),
    log: p.log.slice(-10),
  });
  const videos = async (): Promise<CallPageRemote[] | null> => {
    const all = (await p.call<CallPageRemote[]>('remotes')).filter((r) => r.kind === 'video');
    const ok = remoteIds.map((id) => all.find((r) => r.participantId === id && r.mode === mode && r.framesDecoded > 0));
    return ok.every(Boolean) ? (ok as CallPageRemote[]) : null;
  };
  const first = await waitFor(videos, { timeoutMs, intervalMs: 100, what: `${p.name} decoding ${remoteIds.join(', ')} over ${mode}`, diagnose });
  return waitFor(
    async () => {
      const now = await videos();
      return now && now.every((r) => r.framesDecoded > first.find((f) => f.sourceId === r.sourceId)!.framesDecoded) ? now : null;
    },
    { timeoutMs, intervalMs: 100, what: `${p.name}: decoding still progressing over ${mode}`, diagnose },
  );
}

export const pageState = (p: Participant): Promise<CallPageState> => p.call<CallPageState>('state');

function gapLines(gaps: Record<string, Record<string, GapFigures>>): string[] {
  const lines: string[] = [];
  for (const [page, perRemote] of Object.entries(gaps)) {
    for (const [remote, g] of Object.entries(perRemote)) {
      lines.push(
        `  ${page} <- ${remote}: longest framesDecoded gap ${Math.round(g.maxDecodeGapMs)} ms, ` +
          `longest gap between presented frames ${Math.round(g.maxPresentGapMs)} ms ` +
          `(target <= ${TARGETS.mediaGapMs} ms; ${g.samples} samples, slowest sample ${Math.round(g.maxSampleMs)} ms; ` +
          `sources ${g.sources.join(' -> ')})`,
      );
    }
  }
  return lines;
}

/** A monitoring window without a switch. */
export function printWindow(label: string, gaps: Record<string, Record<string, GapFigures>>): void {
  console.log([`${label}:`, ...gapLines(gaps)].join('\n'));
}

/** Each page's milestones of one switch (ms from its call:mode-switch). */
export async function printTimelines(transitionId: string, pages: Participant[]): Promise<void> {
  const lines = [`timelines of ${transitionId.slice(0, 8)} (ms from call:mode-switch on each page):`];
  for (const p of pages) {
    const t = (await pageState(p)).transitions.find((x) => x.transitionId === transitionId);
    const marks = t ? Object.entries(t.timeline).sort((x, y) => x[1] - y[1]).map(([k, v]) => `${k}@${v}`) : [];
    lines.push(`  ${p.name}: ${t ? `mode-switched@${Math.round(t.durationMs)} ` : 'not seen '}${marks.join(' ')}`);
  }
  console.log(lines.join('\n'));
}

export function printSwitch(
  label: string,
  durationMs: number,
  targetMs: number,
  gaps: Record<string, Record<string, GapFigures>>,
): string {
  const lines = [
    `${label}: switch ${durationMs} ms (mode-switch sent -> mode-switched; target <= ${targetMs} ms)`,
    ...gapLines(gaps),
  ];
  const text = lines.join('\n');
  console.log(text);
  return text;
}

/** The longest of every page's gaps, for the generous assertion. */
export const worstGap = (gaps: Record<string, Record<string, GapFigures>>): number =>
  Math.max(0, ...Object.values(gaps).flatMap((r) => Object.values(r).map((g) => g.maxDecodeGapMs)));
