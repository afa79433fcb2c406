// SRTP on PlainTransport and PipeTransport (mediasoup's enableSrtp and
// srtpParameters), over real UDP on loopback. The cipher itself is checked
// against libsrtp's packets in the Rust tests (src/rtp/srtp.rs); here: the
// API, and media crossing an SRTP hop between two plain transports through
// a Node relay that watches the wire and alters a packet.
import * as mediasoup from '../lib';
import type { types } from '../lib';
import { isRtcp, routerPerTest, tailSeq, until, vp8Packet, vp8Parameters } from './helpers/rtpPeers';

const mediaCodecs: types.RtpCodecCapability[] = [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 }];
const udp = { protocol: 'udp' as const, ip: '127.0.0.1' };
const SSRC = 0x0badcafe;
/** A payload no cipher output is likely to contain: to spot plaintext on the wire. */
const MARK = Buffer.from('opencall-plaintext-marker');

const env = routerPerTest(mediaCodecs);
const { socket } = env;

const keyLength = (p?: types.SrtpParameters): number => Buffer.from(p!.keyBase64, 'base64').length;
/** A packet whose payload carries MARK, then its sequence number. */
const markedPacket = (seq: number, keyframe: boolean): Buffer => vp8Packet(seq, keyframe, SSRC, MARK);

async function vp8Producer(transport: types.Transport, ssrc = SSRC, payloadType = 101): Promise<types.Producer> {
  return transport.produce({ kind: 'video', rtpParameters: vp8Parameters(ssrc, payloadType) });
}

describe('SRTP options and connect()', () => {
  test('each suite gets a key of its length; the default is AES_CM_128_HMAC_SHA1_80', async () => {
    const plain = await env.router.createPlainTransport({ listenInfo: udp, enableSrtp: true });
    expect(plain.srtpParameters).toEqual({ cryptoSuite: 'AES_CM_128_HMAC_SHA1_80', keyBase64: expect.any(String) });
    expect(keyLength(plain.srtpParameters)).toBe(30);
    const lengths: Record<types.SrtpCryptoSuite, number> = {
      AEAD_AES_256_GCM: 44,
      AEAD_AES_128_GCM: 28,
      AES_CM_128_HMAC_SHA1_80: 30,
      AES_CM_128_HMAC_SHA1_32: 30,
    };
    for (const [srtpCryptoSuite, length] of Object.entries(lengths) as [types.SrtpCryptoSuite, number][]) {
      const t = await env.router.createPlainTransport({ listenInfo: udp, enableSrtp: true, srtpCryptoSuite });
      expect(t.srtpParameters?.cryptoSuite).toBe(srtpCryptoSuite);
      expect(keyLength(t.srtpParameters)).toBe(length);
    }
    // Keys are random, and the dump says ours.
    const other = await env.router.createPlainTransport({ listenInfo: udp, enableSrtp: true });
    expect(other.srtpParameters!.keyBase64).not.toBe(plain.srtpParameters!.keyBase64);
    expect((await plain.dump()).srtpParameters).toEqual(plain.srtpParameters);
    expect((await env.router.createPlainTransport({ listenInfo: udp })).srtpParameters).toBeUndefined();

    await expect(
      env.router.createPlainTransport({ listenInfo: udp, srtpCryptoSuite: 'FOO' as types.SrtpCryptoSuite }),
    ).rejects.toThrow(new TypeError('invalid SrtpCryptoSuite: FOO'));
  });

  test('connect() checks srtpParameters; a peer with another suite re-keys ours for it', async () => {
    const srtp = await env.router.createPlainTransport({ listenInfo: udp, enableSrtp: true });
    const plain = await env.router.createPlainTransport({ listenInfo: udp });
    const peer = { ip: '127.0.0.1', port: 9 };
    const good = { cryptoSuite: 'AES_CM_128_HMAC_SHA1_80' as const, keyBase64: Buffer.alloc(30, 7).toString('base64') };
    await expect(srtp.connect(peer)).rejects.toThrow(/missing srtpParameters/);
    await expect(plain.connect({ ...peer, srtpParameters: good })).rejects.toThrow(TypeError);
    await expect(
      srtp.connect({ ...peer, srtpParameters: { ...good, keyBase64: Buffer.alloc(29).toString('base64') } }),
    ).rejects.toThrow(/key length/);
    await expect(srtp.connect({ ...peer, srtpParameters: { ...good, keyBase64: '!!!' } })).rejects.toThrow(TypeError);
    await expect(
      srtp.connect({ ...peer, srtpParameters: { ...good, cryptoSuite: 'NOPE' as types.SrtpCryptoSuite } }),
    ).rejects.toThrow(/invalid SrtpCryptoSuite/);
    // None of that broke the transport.
    const before = srtp.srtpParameters!;
    const gcm = { cryptoSuite: 'AEAD_AES_256_GCM' as const, keyBase64: Buffer.alloc(44, 1).toString('base64') };
    await srtp.connect({ ...peer, srtpParameters: gcm });
    expect(srtp.srtpParameters!.cryptoSuite).toBe('AEAD_AES_256_GCM');
    expect(keyLength(srtp.srtpParameters)).toBe(44);
    expect(srtp.srtpParameters!.keyBase64).not.toBe(before.keyBase64);
    await expect(srtp.connect({ ...peer, srtpParameters: gcm })).rejects.toThrow(/already called/);

    // A connect() that fails after the suite check changes nothing: no re-key.
    const other = await env.router.createPlainTransport({ listenInfo: udp, enableSrtp: true });
    const key = other.srtpParameters;
    await expect(other.connect({ srtpParameters: gcm })).rejects.toThrow(/missing ip or port/);
    expect(other.srtpParameters).toEqual(key);
    expect((await other.dump()).srtpParameters).toEqual(key);
  });

  test('PipeTransport: AEAD_AES_256_GCM only', async () => {
    const pipe = await env.router.createPipeTransport({ listenInfo: udp, enableSrtp: true });
    expect(pipe.srtpParameters?.cryptoSuite).toBe('AEAD_AES_256_GCM');
    expect(keyLength(pipe.srtpParameters)).toBe(44);
    expect((await pipe.dump()).srtpParameters).toEqual(pipe.srtpParameters);
    const other = { cryptoSuite: 'AES_CM_128_HMAC_SHA1_80' as const, keyBase64: Buffer.alloc(30).toString('base64') };
    await expect(pipe.connect({ ip: '127.0.0.1', port: 9, srtpParameters: other })).rejects.toThrow(
      /unsupported srtpParameters.cryptoSuite/,
    );
  });
});

describe('media over SRTP', () => {
  for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'] as const) {
    test(`${suite}: encrypted on the wire, decrypted on the far side, PLI back over SRTCP; an altered packet is dropped`, async () => {
      // source -> ingest (plain, comedia) -> consumer on `out` (SRTP) -> relay -> `into` (SRTP, comedia) -> producer
      //        -> consumer on `exit` (plain) -> sink
      const ingest = await env.router.createPlainTransport({ listenInfo: udp, comedia: true });
      const original = await vp8Producer(ingest);
      const out = await env.router.createPlainTransport({ listenInfo: udp, enableSrtp: true, srtpCryptoSuite: suite });
      const into = await env.router.createPlainTransport({ listenInfo: udp, comedia: true, enableSrtp: true, srtpCryptoSuite: suite });
      const [source, relay, sink] = await Promise.all([socket(), socket(), socket()]);
      await into.connect({ srtpParameters: out.srtpParameters });
      await out.connect({ ip: '127.0.0.1', port: relay.address().port, srtpParameters: into.srtpParameters });

      const wire: Buffer[] = [];
      const back: Buffer[] = [];
      const plis: Buffer[] = [];
      source.on('message', (m) => isRtcp(m) && m[1] === 206 && plis.push(m));
      const ALTERED = 6;
      const ALTERED_HEADER = 9;
      relay.on('message', (m, from) => {
        if (from.port === out.tuple.localPort) {
          if (!isRtcp(m)) {
            wire.push(Buffer.from(m));
            // Two packets are altered on the way, one in its encrypted part
            // (or GCM tag), one in its header (authenticated, not encrypted).
            if (wire.length === ALTERED) m[m.length - 12] ^= 0x40;
            if (wire.length === ALTERED_HEADER) m[5] ^= 0x01;
          }
          relay.send(m, into.tuple.localPort, '127.0.0.1');
        } else {
          back.push(Buffer.from(m));
          relay.send(m, out.tuple.localPort, '127.0.0.1');
        }
      });
      const hop = await out.consume({ producerId: original.id, rtpCapabilities: env.router.rtpCapabilities });
      const copy = await vp8Producer(into, hop.rtpParameters.encodings![0].ssrc, hop.rtpParameters.codecs[0].payloadType);
      const exit = await env.router.createPlainTransport({ listenInfo: udp });
      const received: Buffer[] = [];
      sink.on('message', (m) => !isRtcp(m) && received.push(m));
      await exit.connect({ ip: '127.0.0.1', port: sink.address().port });
      await exit.consume({ producerId: copy.id, rtpCapabilities: env.router.rtpCapabilities });

      const first = 65_530;
      for (let seq = first; seq < first + 12; seq++) {
        source.send(markedPacket(seq, seq === first), ingest.tuple.localPort, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 5));
      }
      const delivered = await until(() => received.length >= 10 && received, '10 packets through the SRTP hop');
      await new Promise((r) => setTimeout(r, 100));

      // On the wire: no plaintext, and every packet one tag longer than what
      // the sink gets for it (same header: one consumer each side).
      expect(wire).toHaveLength(12);
      for (const m of wire) expect(m.includes(MARK)).toBe(false);
      const tag = suite === 'AES_CM_128_HMAC_SHA1_80' ? 10 : 16;
      expect(wire[0].length).toBe(delivered[0].length + tag);
      // At the sink: the payloads, in order, except the altered ones (dropped).
      // Decrypted intact: the plaintext marker is back.
      for (const m of delivered) expect(m.includes(MARK)).toBe(true);
      const seqs = delivered.map((m) => tailSeq(m));
      const expected = Array.from({ length: 12 }, (_, i) => (first + i) & 0xffff).filter(
        (_, i) => i !== ALTERED - 1 && i !== ALTERED_HEADER - 1,
      );
      expect(seqs).toEqual(expected);
      expect(into.tuple.remotePort).toBe(relay.address().port);
      // The sink's consumer asked for a keyframe; it crossed back as SRTCP and reached the source as a PLI.
      await until(() => plis.length > 0 && plis, 'a PLI at the source');
      // Everything `into` sent back was SRTCP, the keyframe request it held
      // until comedia knew the peer included: a plain PLI is 12 bytes, an
      // SRTCP one has 4 more for the index and at least 10 for the tag.
      expect(back.length).toBeGreaterThan(0);
      for (const m of back) expect(m.length).toBeGreaterThanOrEqual(26);
      const [stat] = await copy.getStats();
      expect(stat.packetCount).toBe(10);
    });
  }
});

describe('pipeToRouter({ enableSrtp })', () => {
  test('media crosses an SRTP pipe (AEAD_AES_256_GCM) to a router on another worker', async () => {
    const worker2 = await mediasoup.createWorker({ logLevel: 'warn' });
    try {
      const far = await worker2.createRouter({ mediaCodecs });
      const ingest = await env.router.createPlainTransport({ listenInfo: udp, comedia: true });
      const producer = await vp8Producer(ingest);
      const pipes: types.Transport[] = [];
      for (const r of [env.router, far]) r.observer.on('newtransport', (t) => pipes.push(t));
      const { pipeConsumer, pipeProducer } = await env.router.pipeToRouter({ producerId: producer.id, router: far, enableSrtp: true });
      // Both ends of the pair run SRTP, each with its own key.
      expect(pipes.map((t) => t.type)).toEqual(['pipe', 'pipe']);
      const keys = pipes.map((t) => (t as types.PipeTransport).srtpParameters!);
      expect(keys.map((k) => k.cryptoSuite)).toEqual(['AEAD_AES_256_GCM', 'AEAD_AES_256_GCM']);
      expect(keys[0].keyBase64).not.toBe(keys[1].keyBase64);
      const exit = await far.createPlainTransport({ listenInfo: udp });
      const [source, sink] = await Promise.all([socket(), socket()]);
      const received: Buffer[] = [];
      sink.on('message', (m) => !isRtcp(m) && received.push(m));
      await exit.connect({ ip: '127.0.0.1', port: sink.address().port });
      await exit.consume({ producerId: pipeProducer!.id, rtpCapabilities: far.rtpCapabilities });
      for (let seq = 1; seq <= 10; seq++) {
        source.send(markedPacket(seq, seq === 1), ingest.tuple.localPort, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 5));
      }
      const delivered = await until(() => received.length === 10 && received, '10 packets through the SRTP pipe');
      expect(delivered.map((m) => tailSeq(m))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      for (const m of delivered) expect(m.includes(MARK)).toBe(true);
      const [sent] = await pipeConsumer!.getStats();
      expect(sent.packetCount).toBe(10);
    } finally {
      worker2.close();
    }
  });
});
