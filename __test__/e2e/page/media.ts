// Page-side media helpers shared by the P2P and SFU test pages: local capture,
// remote track playback and getStats() extraction.
import type { LocalMediaOptions, RemoteTrackStats } from './types';

/**
 * Camera from Chromium's fake capture device, audio from a WebAudio oscillator.
 * The fake microphone only beeps for ~30 ms every 500 ms, too sparse for
 * level-based checks, hence a steady tone per page.
 */
export async function getLocalMedia(opts: LocalMediaOptions = {}): Promise<MediaStream> {
  const camera = await navigator.mediaDevices.getUserMedia({
    audio: false,
    video: {
      width: { ideal: opts.width ?? 320 },
      height: { ideal: opts.height ?? 240 },
      frameRate: { ideal: opts.frameRate ?? 20 },
    },
  });
  const audioCtx = new AudioContext();
  // Autoplay policy is relaxed by a launch flag, but resume() makes sure the
  // context runs even if it started suspended.
  await audioCtx.resume();
  const osc = audioCtx.createOscillator();
  osc.frequency.value = opts.toneHz ?? 440;
  const gain = audioCtx.createGain();
  gain.gain.value = 0.5;
  const dest = audioCtx.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  return new MediaStream([...camera.getVideoTracks(), ...dest.stream.getAudioTracks()]);
}

export interface RemoteTrackView {
  track: MediaStreamTrack;
  element: HTMLMediaElement;
  firstFrameAt: number | null;
}

/**
 * Plays a remote track in a <video>/<audio> element. Audio must really play:
 * receiver-side audioLevel stays 0 otherwise.
 */
export function attachRemoteTrack(id: string, track: MediaStreamTrack, label: string): RemoteTrackView {
  const element = document.createElement(track.kind === 'video' ? 'video' : 'audio');
  element.id = `remote-${id}`;
  element.autoplay = true;
  if (element instanceof HTMLVideoElement) {
    element.muted = true;
    element.playsInline = true;
    element.width = 320;
    element.height = 240;
    element.title = label;
  }
  element.srcObject = new MediaStream([track]);
  const view: RemoteTrackView = { track, element, firstFrameAt: null };
  if (element instanceof HTMLVideoElement) {
    // Exact time of the first presented frame, finer than polling getStats().
    element.requestVideoFrameCallback(() => {
      view.firstFrameAt = performance.now();
    });
  }
  document.getElementById('remotes')?.appendChild(element);
  element.play().catch((err: unknown) => console.warn(`play() ${label}: ${String(err)}`));
  return view;
}

export function detachRemoteTrack(view: RemoteTrackView): void {
  view.element.srcObject = null;
  view.element.remove();
}

/** Shows the local camera, so screenshots show both ends of the call. */
export function showLocalVideo(stream: MediaStream): void {
  const video = document.createElement('video');
  video.id = 'local';
  video.muted = true;
  video.autoplay = true;
  video.width = 160;
  video.height = 120;
  video.srcObject = new MediaStream(stream.getVideoTracks());
  document.getElementById('locals')?.appendChild(video);
}

type StatsDict = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** Figures of the first inbound-rtp entry in a report (a receiver's own getStats()). */
export function inboundFigures(
  report: RTCStatsReport,
  id: string,
  view: RemoteTrackView,
): RemoteTrackStats {
  let inbound: StatsDict | undefined;
  report.forEach((s: StatsDict) => {
    if (!inbound && s.type === 'inbound-rtp') inbound = s;
  });
  const s = inbound ?? {};
  return {
    id,
    kind: view.track.kind as 'audio' | 'video',
    trackState: view.track.readyState,
    packetsReceived: num(s.packetsReceived),
    bytesReceived: num(s.bytesReceived),
    framesDecoded: num(s.framesDecoded),
    frameWidth: num(s.frameWidth),
    frameHeight: num(s.frameHeight),
    audioLevel: num(s.audioLevel),
    totalAudioEnergy: num(s.totalAudioEnergy),
    firstFrameAt: view.firstFrameAt,
  };
}

declare global {
  interface Window {
    /** Bridge to the test process (Playwright's page.exposeFunction). */
    signal(method: string, data?: unknown): Promise<unknown>;
    /** Functions the test drives, per page kind. */
    e2e: Record<string, (...args: never[]) => unknown>;
  }
}
