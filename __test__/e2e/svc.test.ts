// VP9 SVC end to end: a browser sends one VP9 encoding with two spatial and
// three temporal layers (L2T3_KEY); a second browser's consumer is given the
// spatial layers up to the one chosen, and decodes each at its resolution.
import * as mediasoup from '../../lib';
import { E2eHarness, waitFor } from './harness';
import { SfuRoom, type RouterLike } from './sfuRoom';

jest.setTimeout(90_000);

const mediaCodecs = [
  { kind: 'audio' as const, mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video' as const, mimeType: 'video/VP9', clockRate: 90000, parameters: { 'profile-id': 0 } },
];

describe('VP9 SVC end to end (mediasoup-client in headless Chromium)', () => {
  let worker: mediasoup.types.Worker;
  let harness: E2eHarness;

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    harness = await E2eHarness.start();
  });

  afterAll(async () => {
    await harness?.close();
    worker?.close();
  });

  it('a consumer switches between the spatial layers of one VP9 encoding', async () => {
    const router = await worker.createRouter({ mediaCodecs });
    const room = new SfuRoom(router as unknown as RouterLike);
    const sender = room.add(await harness.join('svc1', 'sfu'));
    const viewer = room.add(await harness.join('svc2', 'sfu'));
    await sender.participant.call('join', { scalabilityMode: 'L2T3_KEY', width: 640, height: 480, audio: false });
    await viewer.participant.call('join', { audio: false, video: false });
    const producerId = sender.producerIdOf('video')!;
    const producer = sender.producers.get(producerId) as unknown as mediasoup.types.Producer;
    expect(producer.type).toBe('svc');
    expect(producer.rtpParameters.codecs[0].mimeType).toBe('video/VP9');

    const consumerId = await viewer.participant.call<string>('consume', producerId);
    const consumer = viewer.consumers.get(consumerId) as unknown as mediasoup.types.Consumer;
    expect(consumer.type).toBe('svc');
    expect(consumer.rtpParameters.encodings?.[0].scalabilityMode).toBe('L2T3_KEY');
    const changes: (number | null)[] = [];
    consumer.on('layerschange', (l) => changes.push(l?.spatialLayer ?? null));
    const inbound = async () => (await viewer.participant.stats()).find((r) => r.id === consumerId);
    const width = async () => (await inbound())?.frameWidth ?? 0;
    const layer = () => consumer.currentLayers?.spatialLayer;
    const diagnose = async () => ({ changes, layers: consumer.currentLayers, inbound: await inbound() });

    // Both layers: full resolution.
    await waitFor(async () => layer() === 1 && (await width()) === 640, {
      timeoutMs: 20_000,
      what: 'both spatial layers, 640 px',
      diagnose,
    });
    // K-SVC: between keyframes the top layer refers only to its own
    // frames, so the base layer's are left out: fewer bytes go out to the
    // viewer than come in from the sender.
    const bytes = async () => {
      const [sent] = (await consumer.getStats()).filter((s) => s.type === 'outbound-rtp');
      const [received] = (await producer.getStats()).filter((s) => s.type === 'inbound-rtp');
      return { sent: sent?.byteCount ?? 0, received: received?.byteCount ?? 0 };
    };
    const framesBefore = (await inbound())?.framesDecoded ?? 0;
    const start = await bytes();
    await new Promise((r) => setTimeout(r, 2_000));
    const end = await bytes();
    // Still decoding (the width alone would stay at the last frame's).
    expect((await inbound())?.framesDecoded ?? 0).toBeGreaterThan(framesBefore + 10);
    const [sent, received] = [end.sent - start.sent, end.received - start.received];
    console.log(`VP9 K-SVC at the top layer, 2 s: ${received} bytes in, ${sent} bytes out`);
    expect(received).toBeGreaterThan(0);
    expect(sent).toBeLessThan(0.95 * received);
    expect(await width()).toBe(640);

    // The base layer only: half the resolution, and the browser keeps
    // decoding (the end of the base layer's frame now ends each picture).
    await consumer.setPreferredLayers({ spatialLayer: 0 });
    await waitFor(async () => layer() === 0 && (await width()) === 320, {
      timeoutMs: 15_000,
      what: 'the base spatial layer at 320 px',
      diagnose,
    });
    const decoded = async () => (await inbound())?.framesDecoded ?? 0;
    const before = await decoded();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await decoded()).toBeGreaterThan(before + 5);
    expect(await width()).toBe(320);
    // Back up: on the keyframe it asked for.
    await consumer.setPreferredLayers({ spatialLayer: 1 });
    await waitFor(async () => layer() === 1 && (await width()) === 640, {
      timeoutMs: 15_000,
      what: 'both spatial layers again',
      diagnose,
    });
    console.log(`VP9 SVC: layerschange ${JSON.stringify(changes)}`);
    await Promise.all([sender, viewer].map((p) => p.participant.close()));
    room.close();
  });
});
