// Call test page: opencall's browser client (lib/client, bundled with
// mediasoup-client and socket.io-client) against a real gateway. Renders each
// remote participant's stable stream in one <video> and measures, on demand,
// how continuously those videos decode and present frames across mode switches.
import { HybridConnection } from '../../../lib/client';
import { getLocalMedia, showLocalVideo } from './media';
import { CALL_SCREEN_SIZE, type CallPageJoinOptions, type CallPageReconnectEvent, type CallPageRemote, type CallPageState, type CallPageTransition, type GapFigures } from './call-types';

let conn: HybridConnection | null = null;
let local: MediaStream | null = null;
const transitions: CallPageTransition[] = [];
const errors: string[] = [];
const reconnects: CallPageReconnectEvent[] = [];
const iceRestarts: string[] = [];
const speakers: (string | null)[] = [];
const chat: { participantId: string; text: string }[] = [];
const remoteStreamEvents: Record<string, number> = {};
const videos = new Map<string, { element: HTMLVideoElement; stream: MediaStream; lastPresentedAt: number | null; maxPresentGap: number }>();

function connection(): HybridConnection {
  if (!conn) throw new Error('join() first');
  return conn;
}

function showRemote(participantId: string, stream: MediaStream): void {
  remoteStreamEvents[participantId] = (remoteStreamEvents[participantId] ?? 0) + 1;
  if (videos.has(participantId)) return;
  const element = document.createElement('video');
  element.id = `remote-${participantId}`;
  element.autoplay = true;
  element.playsInline = true;
  element.width = 320;
  element.height = 240;
  element.title = participantId;
  element.srcObject = stream;
  const entry = { element, stream, lastPresentedAt: null as number | null, maxPresentGap: 0 };
  videos.set(participantId, entry);
  const onFrame = (now: number): void => {
    if (entry.lastPresentedAt !== null) entry.maxPresentGap = Math.max(entry.maxPresentGap, now - entry.lastPresentedAt);
    entry.lastPresentedAt = now;
    if (videos.get(participantId) === entry) element.requestVideoFrameCallback(onFrame);
  };
  element.requestVideoFrameCallback(onFrame);
  document.getElementById('remotes')?.appendChild(element);
  element.play().catch((err: unknown) => errors.push(`play() ${participantId}: ${String(err)}`));
}

async function join(opts: CallPageJoinOptions): Promise<{ participantId: string; mode: string }> {
  local = await getLocalMedia(opts);
  showLocalVideo(local);
  conn = new HybridConnection({
    url: opts.url,
    socketOptions: opts.reconnect
      ? { transports: ['websocket'], reconnectionDelay: 200, reconnectionDelayMax: 1_000, auth: { participantId: opts.participantId } }
      : { transports: ['websocket'], reconnection: false },
    callId: opts.callId,
    participantId: opts.participantId,
    conversationType: 'group',
    p2pParticipantLimit: opts.p2pParticipantLimit,
    sfuVideoEncodings: opts.sfuVideoEncodings,
    localStream: local,
    qualityIntervalMs: opts.qualityIntervalMs ?? 1_000,
  });
  conn.on('remotestream', showRemote);
  conn.on('participantleft', (id) => {
    const v = videos.get(id);
    v?.element.remove();
    videos.delete(id);
  });
  conn.on('transitionend', (r) => transitions.push({ ...r }));
  conn.on('error', (e) => errors.push(e.message));
  conn.on('reconnecting', (reason) => reconnects.push({ event: 'reconnecting', reason, at: Date.now() }));
  conn.on('reconnected', ({ seatKept }) => reconnects.push({ event: 'reconnected', seatKept, at: Date.now() }));
  conn.on('icerestart', (direction) => iceRestarts.push(direction));
  conn.on('chat', (m) => chat.push({ participantId: m.participantId, text: m.text }));
  conn.on('activespeaker', (id) => speakers.push(id));
  const response = await conn.join();
  return { participantId: response.participantId, mode: conn.mode };
}

function state(): CallPageState {
  const c = connection();
  return {
    participantId: c.participantId,
    mode: c.mode,
    isTransitioning: c.isTransitioning,
    participants: [...c.participants.keys()],
    sharingScreen: Object.fromEntries([...c.participants].map(([id, p]) => [id, p.state.media.screen])),
    transitions,
    quality: c.quality,
    remoteStreamEvents,
    sameStreamObject: Object.fromEntries(
      [...videos].map(([id, v]) => [id, v.element.srcObject === v.stream && c.participants.get(id)?.stream === v.stream]),
    ),
    reconnects,
    iceRestarts,
    speakers,
    chat,
    errors,
  };
}

async function remotes(): Promise<CallPageRemote[]> {
  const c = connection();
  const out: CallPageRemote[] = [];
  for (const id of c.participants.keys()) {
    for (const s of await c.getRemoteStats(id)) {
      out.push({
        participantId: id,
        kind: s.kind,
        mode: s.mode,
        sourceId: s.sourceId,
        packetsReceived: s.packetsReceived,
        framesDecoded: s.framesDecoded,
        frameWidth: s.frameWidth,
        frameHeight: s.frameHeight,
      });
    }
  }
  return out;
}

interface Track {
  sourceId: string | null;
  frames: number;
  lastProgressAt: number | null;
  figures: GapFigures;
}
let monitor: { running: boolean; done: Promise<void>; tracks: Map<string, Track> } | null = null;

/**
 * Samples the rendered video of every participant present now, every
 * `intervalMs`: progress is framesDecoded growing, or the rendered source
 * changing to one that has decoded frames (a switch swapped the track).
 */
function startMonitor(intervalMs = 30): void {
  const c = connection();
  const tracks = new Map<string, Track>();
  for (const id of c.participants.keys()) {
    tracks.set(id, { sourceId: null, frames: 0, lastProgressAt: null, figures: { maxDecodeGapMs: 0, maxPresentGapMs: 0, samples: 0, sources: [], maxSampleMs: 0 } });
    const v = videos.get(id);
    if (v) {
      v.maxPresentGap = 0;
      v.lastPresentedAt = null;
    }
  }
  const m = { running: true, tracks, done: Promise.resolve() };
  m.done = (async () => {
    while (m.running) {
      const started = performance.now();
      for (const [id, t] of tracks) {
        if (!c.participants.has(id)) continue;
        const t0 = performance.now();
        const video = (await c.getRemoteStats(id)).find((s) => s.kind === 'video');
        const now = performance.now();
        t.figures.maxSampleMs = Math.max(t.figures.maxSampleMs, now - t0);
        t.figures.samples += 1;
        if (!video) continue;
        const switched = video.sourceId !== t.sourceId;
        if (switched) t.figures.sources.push(`${video.mode}:${video.sourceId.slice(0, 8)}`);
        const progressed = (switched && video.framesDecoded > 0) || video.framesDecoded > t.frames;
        if (progressed) {
          if (t.lastProgressAt !== null) t.figures.maxDecodeGapMs = Math.max(t.figures.maxDecodeGapMs, now - t.lastProgressAt);
          t.lastProgressAt = now;
        }
        t.sourceId = video.sourceId;
        t.frames = video.framesDecoded;
      }
      const spent = performance.now() - started;
      await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - spent)));
    }
  })();
  monitor = m;
}

async function stopMonitor(): Promise<Record<string, GapFigures>> {
  const m = monitor;
  if (!m) throw new Error('startMonitor() first');
  m.running = false;
  await m.done;
  monitor = null;
  const now = performance.now();
  const out: Record<string, GapFigures> = {};
  for (const [id, t] of m.tracks) {
    // Someone who left during the window has no continuity to measure.
    if (!connection().participants.has(id)) continue;
    // A video that stopped decoding before the end counts up to now.
    if (t.lastProgressAt !== null) {
      t.figures.maxDecodeGapMs = Math.max(t.figures.maxDecodeGapMs, now - t.lastProgressAt);
    }
    const v = videos.get(id);
    if (v) {
      const tail = v.lastPresentedAt === null ? 0 : now - v.lastPresentedAt;
      t.figures.maxPresentGapMs = Math.max(v.maxPresentGap, tail);
    }
    out[id] = t.figures;
  }
  return out;
}

/**
 * A fake shared screen: a canvas track (getDisplayMedia needs a user's pick,
 * awkward headless), with moving content so that frames keep coming, and a
 * size unlike the camera's so the other pages can tell which one they decode.
 */
let screen: { track: MediaStreamTrack; timer: ReturnType<typeof setInterval> } | null = null;

async function startScreen(): Promise<void> {
  if (screen) return;
  const canvas = document.createElement('canvas');
  canvas.width = CALL_SCREEN_SIZE.width;
  canvas.height = CALL_SCREEN_SIZE.height;
  const ctx = canvas.getContext('2d')!;
  let frame = 0;
  const draw = (): void => {
    frame += 1;
    ctx.fillStyle = '#203040';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = '#f0c040';
    ctx.fillRect((frame * 8) % canvas.width, 100, 80, 80);
    ctx.font = '32px sans-serif';
    ctx.fillText(`screen ${frame}`, 20, 50);
  };
  draw();
  const track = canvas.captureStream(15).getVideoTracks()[0]!;
  // What a real screen share says: keep the resolution, drop frames first.
  track.contentHint = 'detail';
  screen = { track, timer: setInterval(draw, 66) };
  await connection().shareScreen(track);
}

async function stopScreen(): Promise<void> {
  if (!screen) return;
  const { track, timer } = screen;
  screen = null;
  await connection().shareScreen(null);
  clearInterval(timer);
  track.stop();
}

async function leave(): Promise<void> {
  await conn?.leave();
  local?.getTracks().forEach((t) => t.stop());
}

/** Drops the signaling connection as a network blip would (the socket's transport closes). */
function dropSignaling(): void {
  connection().socket.io.engine.close();
}

async function setMedia(media: { audio?: boolean; video?: boolean }): Promise<void> {
  await connection().setMedia(media);
}

async function sendChat(text: string): Promise<void> {
  await connection().sendChat(text);
}

window.e2e = { join, state, remotes, startMonitor, stopMonitor, startScreen, stopScreen, leave, dropSignaling, sendChat, setMedia } as unknown as Window['e2e'];
