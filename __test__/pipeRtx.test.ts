// RTX on PipeTransports (enableRtx): a packet lost between two routers is
// NACKed by the receiving pipe and resent as RTX by the sending one, over
// real UDP through a Node relay that drops it once.
import { isRtcp, routerPerTest, tailSeq, until, vp8Packet, vp8Parameters } from './helpers/rtpPeers';
import type { types } from '../lib';

const mediaCodecs: types.RtpCodecCapability[] = [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 }];
const udp = { protocol: 'udp' as const, ip: '127.0.0.1' };
const SSRC = 0x0ddba11;

const env = routerPerTest(mediaCodecs);

describe('PipeTransport enableRtx', () => {
  test('a packet lost on the pipe is NACKed and comes back as RTX', async () => {
    const far = await env.worker.createRouter({ mediaCodecs });
    try {
      const ingest = await env.router.createPlainTransport({ listenInfo: udp, comedia: true });
      const producer = await ingest.produce({ kind: 'video', rtpParameters: vp8Parameters(SSRC) });
      const [pa, pb] = await Promise.all([
        env.router.createPipeTransport({ listenInfo: udp, enableRtx: true }),
        far.createPipeTransport({ listenInfo: udp, enableRtx: true }),
      ]);
      expect((await pa.dump()).rtx).toBe(true);
      const relay = await env.socket();
      const port = relay.address().port;
      await pa.connect({ ip: '127.0.0.1', port });
      await pb.connect({ ip: '127.0.0.1', port });
      const dropped: number[] = [];
      const nacks: Buffer[] = [];
      relay.on('message', (m, from) => {
        if (from.port === pa.tuple.localPort) {
          // The fourth media packet is lost, once (RTX has its own SSRC).
          const media = !isRtcp(m) && m.readUInt32BE(8) === pipeConsumer.rtpParameters.encodings![0].ssrc;
          if (media && tailSeq(m) === 4 && !dropped.includes(4)) {
            dropped.push(4);
            return;
          }
          relay.send(m, pb.tuple.localPort, '127.0.0.1');
        } else {
          if (isRtcp(m) && m[1] === 205) nacks.push(m);
          relay.send(m, pa.tuple.localPort, '127.0.0.1');
        }
      });
      const pipeConsumer = await pa.consume({ producerId: producer.id });
      // RTX and NACK in the pipe consumer's parameters.
      expect(pipeConsumer.rtpParameters.encodings![0].rtx?.ssrc).toEqual(expect.any(Number));
      expect(pipeConsumer.rtpParameters.codecs.map((c) => c.mimeType)).toContain('video/rtx');
      const copy = await pb.produce({ kind: 'video', rtpParameters: pipeConsumer.rtpParameters });
      const exit = await far.createPlainTransport({ listenInfo: udp });
      const sink = await env.socket();
      const received: Buffer[] = [];
      sink.on('message', (m) => !isRtcp(m) && received.push(m));
      await exit.connect({ ip: '127.0.0.1', port: sink.address().port });
      await exit.consume({ producerId: copy.id, rtpCapabilities: far.rtpCapabilities });

      const source = await env.socket();
      for (let seq = 1; seq <= 10; seq++) {
        source.send(vp8Packet(seq, seq === 1, SSRC), ingest.tuple.localPort, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 5));
      }
      await until(() => received.length === 10, 'all 10 packets, the lost one resent');
      expect(dropped).toEqual([4]);
      expect(received.map(tailSeq).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(nacks.length).toBeGreaterThan(0);
      const [stat] = await copy.getStats();
      expect(stat.nackCount).toBeGreaterThan(0);
    } finally {
      far.close();
    }
  });

  test('pipeToRouter({ enableRtx }) makes the pair with RTX', async () => {
    const worker2Router = await env.worker.createRouter({ mediaCodecs });
    try {
      const ingest = await env.router.createPlainTransport({ listenInfo: udp, comedia: true });
      const producer = await ingest.produce({ kind: 'video', rtpParameters: vp8Parameters(SSRC) });
      const { pipeConsumer } = await env.router.pipeToRouter({
        producerId: producer.id,
        router: worker2Router,
        keepId: false,
        enableRtx: true,
      });
      expect(pipeConsumer!.rtpParameters.encodings![0].rtx).toBeDefined();
    } finally {
      worker2Router.close();
    }
  });
});
