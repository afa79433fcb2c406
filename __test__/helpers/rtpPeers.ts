/**
 * Node UDP peers on loopback and hand-made RTP, for the tests of the
 * transports whose far end is a plain RTP tool (plain, pipe, SRTP, direct).
 */
import * as dgram from 'node:dgram';
import { createWorker, type types } from '../../lib';

/** A bound UDP socket on loopback; `opened` collects it for closing. */
export async function udpSocket(opened: dgram.Socket[]): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  opened.push(s);
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

export const isRtcp = (m: Buffer): boolean => m[1] >= 192 && m[1] <= 223;

/** Polls `probe` every 10 ms until it gives something truthy (3 s at most). */
export async function until<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A VP8 packet (payload type 101): the payload descriptor, a keyframe or
 * delta frame header, then `body`, then the sequence number (so that a
 * receiver can tell which packet it got: see `tailSeq`).
 */
export function vp8Packet(seq: number, keyframe: boolean, ssrc: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12 + 8 + body.length + 2);
  b[0] = 0x80;
  b[1] = 101;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 3000) >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  b[12] = 0x10;
  b[13] = keyframe ? 0x00 : 0x01;
  b.set([0x9d, 0x01, 0x2a], 16);
  body.copy(b, 20);
  b.writeUInt16BE(seq & 0xffff, 20 + body.length);
  return b;
}

/** The sequence number vp8Packet() put at the end of the payload. */
export const tailSeq = (m: Buffer): number => m.readUInt16BE(m.length - 2);

/** A PLI (RFC 4585) for `media`. */
export function pli(media: number): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 0x81;
  b[1] = 206;
  b.writeUInt16BE(2, 2);
  b.writeUInt32BE(1, 4);
  b.writeUInt32BE(media, 8);
  return b;
}

/** A generic NACK (RFC 4585) for one packet `seq` of `media`. */
export function nack(media: number, seq: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = 0x81;
  b[1] = 205;
  b.writeUInt16BE(3, 2);
  b.writeUInt32BE(1, 4);
  b.writeUInt32BE(media, 8);
  b.writeUInt16BE(seq & 0xffff, 12);
  return b;
}

/** A VP8 producer's rtpParameters on one SSRC. */
export function vp8Parameters(ssrc: number, payloadType = 101) {
  return {
    codecs: [{ mimeType: 'video/VP8', payloadType, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }],
    encodings: [{ ssrc }],
  };
}

/**
 * One worker for the file and a fresh router per test (closed after it, with
 * the sockets the test opened): `env.router`, `env.worker`, `env.socket()`.
 */
export function routerPerTest(mediaCodecs: types.RtpCodecCapability[]) {
  const env = {
    worker: undefined as unknown as types.Worker,
    router: undefined as unknown as types.Router,
    sockets: [] as dgram.Socket[],
    socket: (): Promise<dgram.Socket> => udpSocket(env.sockets),
  };
  beforeAll(async () => {
    env.worker = await createWorker({ logLevel: 'warn' });
  });
  afterAll(() => env.worker.close());
  beforeEach(async () => {
    env.router = await env.worker.createRouter({ mediaCodecs });
  });
  afterEach(() => {
    env.router.close();
    env.sockets.splice(0).forEach((s) => s.close());
  });
  return env;
}
