// P2P test page: a plain RTCPeerConnection whose offer/answer travel through the
// harness's signaling bridge. It exercises the harness itself (browser flags,
// fake devices, bridge, stats) with no SFU involved.
import {
  attachRemoteTrack,
  getLocalMedia,
  inboundFigures,
  showLocalVideo,
  type RemoteTrackView,
} from './media';
import type { LocalMediaOptions, RemoteTrackStats } from './types';

let pc: RTCPeerConnection | null = null;
let local: MediaStream | null = null;
const remotes = new Map<string, { view: RemoteTrackView; receiver: RTCRtpReceiver }>();
let signalingDoneAt: number | null = null;

function peer(): RTCPeerConnection {
  if (!pc) throw new Error('call start() first');
  return pc;
}

/** Non-trickle ICE: on loopback host candidates gather in a few ms, so one round trip suffices. */
async function gathered(conn: RTCPeerConnection): Promise<RTCSessionDescriptionInit> {
  if (conn.iceGatheringState !== 'complete') {
    await new Promise<void>((resolve) => {
      const onChange = (): void => {
        if (conn.iceGatheringState === 'complete') {
          conn.removeEventListener('icegatheringstatechange', onChange);
          resolve();
        }
      };
      conn.addEventListener('icegatheringstatechange', onChange);
    });
  }
  const desc = conn.localDescription;
  if (!desc) throw new Error('no local description');
  return { type: desc.type, sdp: desc.sdp };
}

async function start(opts: LocalMediaOptions = {}): Promise<void> {
  local = await getLocalMedia(opts);
  showLocalVideo(local);
  pc = new RTCPeerConnection({ iceServers: [] });
  for (const track of local.getTracks()) pc.addTrack(track, local);
  pc.addEventListener('track', (ev) => {
    const track = ev.track;
    const view = attachRemoteTrack(track.id, track, `remote ${track.kind}`);
    remotes.set(track.id, { view, receiver: ev.receiver });
  });
}

/** Offerer side: the answer comes back as the bridge call's result. */
async function call(): Promise<void> {
  const conn = peer();
  await conn.setLocalDescription(await conn.createOffer());
  const answer = (await window.signal('offer', await gathered(conn))) as RTCSessionDescriptionInit;
  await conn.setRemoteDescription(answer);
  signalingDoneAt = performance.now();
}

/** Answerer side, invoked by the test process when the other page's offer arrives. */
async function answer(offer: RTCSessionDescriptionInit): Promise<RTCSessionDescriptionInit> {
  const conn = peer();
  await conn.setRemoteDescription(offer);
  await conn.setLocalDescription(await conn.createAnswer());
  signalingDoneAt = performance.now();
  return gathered(conn);
}

async function stats(): Promise<RemoteTrackStats[]> {
  const out: RemoteTrackStats[] = [];
  for (const [id, { view, receiver }] of remotes) {
    out.push(inboundFigures(await receiver.getStats(), id, view));
  }
  return out;
}

/** Milliseconds from the end of signaling to each remote video's first frame. */
function firstFrameDelays(): number[] {
  return [...remotes.values()]
    .filter(({ view }) => view.track.kind === 'video' && view.firstFrameAt !== null)
    .map(({ view }) => (view.firstFrameAt as number) - (signalingDoneAt ?? 0));
}

function connectionState(): string {
  return pc?.connectionState ?? 'none';
}

function stop(): void {
  local?.getTracks().forEach((t) => t.stop());
  pc?.close();
  pc = null;
}

window.e2e = { start, call, answer, stats, firstFrameDelays, connectionState, stop };
