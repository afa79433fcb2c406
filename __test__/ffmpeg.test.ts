// FFmpeg at both ends of the SFU, as mediasoup users run it: one FFmpeg
// encodes a test pattern and a tone (VP8 and Opus) and sends them as plain
// RTP to comedia PlainTransports (the "broadcaster" recipe); PlainTransport
// consumers send them on to a second FFmpeg, which reads an SDP and records
// what it gets. ffprobe then decodes the recording: frames at the far end
// show that the SFU's RTP, its rewriting and its RTCP are what another RTP
// stack reads, not only what our own tests parse.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mediasoup from '../lib';
import type { types } from '../lib';
import { until } from './helpers/rtpPeers';

jest.setTimeout(60_000);

const mediaCodecs: types.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];
const udp = { protocol: 'udp' as const, ip: '127.0.0.1' };
const VIDEO_SSRC = 22222222;
const AUDIO_SSRC = 11111111;

let worker: types.Worker;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  // The SFU's ports below the kernel's ephemeral range, where the ports
  // picked for the receiving FFmpeg come from: the two cannot meet.
  worker = await mediasoup.createWorker({ logLevel: 'warn', rtcMinPort: 20000, rtcMaxPort: 29999 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opencall-ffmpeg-'));
});

afterAll(() => {
  children.forEach((c) => c.kill('SIGKILL'));
  worker.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Binds a UDP socket on loopback; null if the port is taken. */
async function bound(port: number): Promise<dgram.Socket | null> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => resolve(null));
    socket.bind(port, '127.0.0.1', () => resolve(socket));
  });
}

/**
 * `count` even UDP ports whose odd neighbours are free too (RTP and its
 * RTCP), held until `release()` so that a later pick cannot return them.
 */
async function freePortPairs(count: number): Promise<{ ports: number[]; release: () => void }> {
  const held: dgram.Socket[] = [];
  const ports: number[] = [];
  while (ports.length < count) {
    const a = (await bound(0))!;
    const port = a.address().port;
    const b = port % 2 === 0 ? await bound(port + 1) : null;
    held.push(a);
    if (b) {
      held.push(b);
      ports.push(port);
    }
  }
  return { ports, release: () => held.forEach((s) => s.close()) };
}

/** Waits until a process has bound this UDP port. */
async function listening(port: number): Promise<void> {
  await until(async () => {
    const probe = await bound(port);
    probe?.close();
    return probe === null;
  }, `a listener on port ${port}`);
}

function ffmpeg(args: string[]): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('exit', (code) => resolve(code));
    child.once('error', (e) =>
      reject(new Error(`cannot run ffmpeg (${e.message}): bash scripts/install-system-deps.sh installs it`)),
    );
  });
  return { child, exited, stderr: () => stderr };
}

test('FFmpeg → PlainTransports → router → PlainTransports → FFmpeg: VP8 and Opus decode at the far end', async () => {
  const router = await worker.createRouter({ mediaCodecs });

  // The receiving FFmpeg: consumers on PlainTransports connected to the
  // ports its SDP names (RTCP on the next port, as FFmpeg expects).
  const pairs = await freePortPairs(2);
  const [videoPort, audioPort] = pairs.ports;
  const egress = async (port: number) => {
    const t = await router.createPlainTransport({ listenInfo: udp, rtcpMux: false, comedia: false });
    await t.connect({ ip: '127.0.0.1', port, rtcpPort: port + 1 });
    return t;
  };
  const [videoOut, audioOut] = [await egress(videoPort), await egress(audioPort)];

  // The sending FFmpeg's side: comedia transports learn its ports from
  // its first RTP and RTCP packets.
  const ingress = () =>
    router.createPlainTransport({ listenInfo: udp, rtcpMux: false, comedia: true });
  const [videoIn, audioIn] = [await ingress(), await ingress()];
  const videoProducer = await videoIn.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000 }],
      encodings: [{ ssrc: VIDEO_SSRC }],
    },
  });
  const audioProducer = await audioIn.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc: AUDIO_SSRC }],
    },
  });
  const videoConsumer = await videoOut.consume({ producerId: videoProducer.id, rtpCapabilities: router.rtpCapabilities });
  const audioConsumer = await audioOut.consume({ producerId: audioProducer.id, rtpCapabilities: router.rtpCapabilities });
  const vpt = videoConsumer.rtpParameters.codecs[0].payloadType;
  const apt = audioConsumer.rtpParameters.codecs[0].payloadType;
  const sdp = path.join(dir, 'in.sdp');
  fs.writeFileSync(
    sdp,
    [
      'v=0',
      'o=- 0 0 IN IP4 127.0.0.1',
      's=opencall',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=video ${videoPort} RTP/AVP ${vpt}`,
      `a=rtpmap:${vpt} VP8/90000`,
      `m=audio ${audioPort} RTP/AVP ${apt}`,
      `a=rtpmap:${apt} opus/48000/2`,
      '',
    ].join('\n'),
  );
  const recording = path.join(dir, 'out.mkv');
  // Four seconds of what arrives, copied as it comes (ffprobe decodes it).
  pairs.release();
  const receiver = ffmpeg([
    '-protocol_whitelist', 'file,udp,rtp',
    '-analyzeduration', '1000000',
    '-i', sdp,
    '-map', '0:v', '-map', '0:a', '-c', 'copy', '-t', '4',
    '-y', recording,
  ]);

  // The router forwards video from a keyframe on, and FFmpeg ignores the
  // keyframe requests: the sender starts once the receiver listens, with a
  // keyframe every third of a second.
  await listening(videoPort);
  await listening(audioPort);
  const rtp = (port: number, rtcpPort: number) => `rtp://127.0.0.1:${port}?rtcpport=${rtcpPort}&pkt_size=1200`;
  const sender = ffmpeg([
    '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15',
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-t', '10', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-g', '5',
    '-ssrc', String(VIDEO_SSRC), '-payload_type', '101', '-f', 'rtp',
    rtp(videoIn.tuple.localPort, videoIn.rtcpTuple!.localPort),
    '-map', '1:a', '-t', '10', '-c:a', 'libopus', '-ac', '2', '-b:a', '64k',
    '-ssrc', String(AUDIO_SSRC), '-payload_type', '100', '-f', 'rtp',
    rtp(audioIn.tuple.localPort, audioIn.rtcpTuple!.localPort),
  ]);

  // The recording ends by itself after four seconds of media; SIGINT (which
  // FFmpeg answers by closing its file properly) if it has not by then.
  const stop = setTimeout(() => receiver.child.kill('SIGINT'), 25_000);
  const code = await receiver.exited;
  clearTimeout(stop);
  sender.child.kill('SIGINT');
  await sender.exited;
  expect({ code, stderr: receiver.stderr() }).toEqual({ code: 0, stderr: expect.any(String) });

  // The SFU learnt FFmpeg's ports (RTP and RTCP) and counted its packets.
  expect(videoIn.tuple.remotePort).toEqual(expect.any(Number));
  expect(videoIn.rtcpTuple?.remotePort).toEqual(expect.any(Number));
  const [produced] = await videoProducer.getStats();
  expect(produced.packetCount).toBeGreaterThan(50);
  const [consumed] = (await videoConsumer.getStats()).filter((s) => s.type === 'outbound-rtp');
  expect(consumed.packetCount).toBeGreaterThan(50);

  // ffprobe decodes every frame of the recording, without an error.
  const probe = spawnSync(
    'ffprobe',
    ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'json', recording],
    { encoding: 'utf8' },
  );
  expect({ status: probe.status, errors: probe.stderr }).toEqual({ status: 0, errors: '' });
  const streams: { codec_name: string; nb_read_frames: string }[] = JSON.parse(probe.stdout).streams;
  const frames = Object.fromEntries(streams.map((s) => [s.codec_name, Number(s.nb_read_frames)]));
  // 15 frames/s and 50 Opus frames/s for four seconds, give or take the start.
  expect(frames.vp8).toBeGreaterThanOrEqual(45);
  expect(frames.opus).toBeGreaterThanOrEqual(150);
  router.close();
});
