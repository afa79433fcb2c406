import * as mediasoup from '../lib';
import { InvalidStateError, UnsupportedError } from '../lib/errors';
import type { types } from '../lib';

const mediaCodecs: types.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

const audioProducerOptions: types.ProducerOptions = {
  kind: 'audio',
  rtpParameters: {
    mid: 'AUDIO',
    codecs: [
      {
        mimeType: 'audio/opus',
        payloadType: 111,
        clockRate: 48000,
        channels: 2,
        parameters: { useinbandfec: 1, usedtx: 1 },
      },
    ],
    headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 10 }],
    encodings: [{ ssrc: 11111111 }],
    rtcp: { cname: 'peer-1' },
  },
};

const videoProducerOptions: types.ProducerOptions = {
  kind: 'video',
  rtpParameters: {
    mid: 'VIDEO',
    codecs: [
      {
        mimeType: 'video/VP8',
        payloadType: 96,
        clockRate: 90000,
        rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
      },
      { mimeType: 'video/rtx', payloadType: 97, clockRate: 90000, parameters: { apt: 96 } },
    ],
    headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 10 }],
    encodings: [
      { ssrc: 22222222, rtx: { ssrc: 22222223 }, scalabilityMode: 'L1T3' },
      { ssrc: 22222224, rtx: { ssrc: 22222225 }, scalabilityMode: 'L1T3' },
    ],
    rtcp: { cname: 'peer-1' },
  },
};

/** A receiving browser's capabilities, as mediasoup-client's Device reports them. */
const deviceCapabilities: types.RtpCapabilities = {
  codecs: [
    { kind: 'audio', mimeType: 'audio/opus', preferredPayloadType: 100, clockRate: 48000, channels: 2 },
    {
      kind: 'video',
      mimeType: 'video/VP8',
      preferredPayloadType: 101,
      clockRate: 90000,
      rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
    },
    { kind: 'video', mimeType: 'video/rtx', preferredPayloadType: 102, clockRate: 90000, parameters: { apt: 101 } },
  ],
  headerExtensions: [
    { kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1 },
    { kind: 'video', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1 },
  ],
};


describe('Consumer', () => {
  let worker: types.Worker;
  let router: types.Router;
  let transport1: types.WebRtcTransport;
  let transport2: types.WebRtcTransport;
  let audioProducer: types.Producer;
  let videoProducer: types.Producer;

  beforeEach(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    router = await worker.createRouter({ mediaCodecs });
    transport1 = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
    transport2 = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
    audioProducer = await transport1.produce(audioProducerOptions);
    videoProducer = await transport1.produce(videoProducerOptions);
  });

  afterEach(() => worker.close());

  test('canConsume() is true for a real producer and a capable device', () => {
    expect(router.canConsume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities })).toBe(true);
    expect(router.canConsume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities })).toBe(true);
    expect(router.canConsume({ producerId: 'nope', rtpCapabilities: deviceCapabilities })).toBe(false);
  });

  test('consume() of audio: shape, observer, dumps', async () => {
    const onNewConsumer = jest.fn();
    transport2.observer.once('newconsumer', onNewConsumer);
    const consumer = await transport2.consume<{ who: string }>({
      producerId: audioProducer.id,
      rtpCapabilities: deviceCapabilities,
      appData: { who: 'bob' },
    });

    expect(onNewConsumer).toHaveBeenCalledTimes(1);
    expect(onNewConsumer).toHaveBeenCalledWith(consumer);
    expect(typeof consumer.id).toBe('string');
    expect(consumer.producerId).toBe(audioProducer.id);
    expect(consumer.closed).toBe(false);
    expect(consumer.kind).toBe('audio');
    expect(consumer.type).toBe('simple');
    expect(consumer.paused).toBe(false);
    expect(consumer.producerPaused).toBe(false);
    expect(consumer.priority).toBe(1);
    expect(consumer.appData).toEqual({ who: 'bob' });
    expect(consumer.preferredLayers).toBeUndefined();
    expect(consumer.currentLayers).toBeUndefined();
    expect(consumer.score).toMatchObject({
      score: expect.any(Number),
      producerScore: expect.any(Number),
      producerScores: expect.any(Array),
    });
    // The endpoint's payload type, its own SSRC, and a MID for its transport.
    expect(consumer.rtpParameters.codecs).toHaveLength(1);
    expect(consumer.rtpParameters.codecs[0]).toMatchObject({ mimeType: 'audio/opus', payloadType: 100 });
    expect(typeof consumer.rtpParameters.mid).toBe('string');
    expect(consumer.rtpParameters.encodings).toHaveLength(1);
    expect(typeof consumer.rtpParameters.encodings![0].ssrc).toBe('number');
    expect(consumer.rtpParameters.encodings![0].ssrc).not.toBe(11111111);

    await expect(transport2.dump()).resolves.toMatchObject({ producerIds: [], consumerIds: [consumer.id] });
  });

  test('router.dump() maps consumers as mediasoup\'s key/value arrays', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    const routerDump = await router.dump();
    expect(routerDump.mapConsumerIdProducerId).toEqual([{ key: consumer.id, value: audioProducer.id }]);
    expect(routerDump.mapProducerIdConsumerIds).toEqual(
      expect.arrayContaining([{ key: audioProducer.id, values: [consumer.id] }]),
    );
  });

  test('a consumer carries its producer\'s RTCP CNAME', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    expect(consumer.rtpParameters.rtcp?.cname).toBe('peer-1');
  });

  test('consume() of simulcast video: paused, RTX, layers', async () => {
    const consumer = await transport2.consume({
      producerId: videoProducer.id,
      rtpCapabilities: deviceCapabilities,
      paused: true,
    });
    expect(consumer.kind).toBe('video');
    expect(consumer.type).toBe('simulcast');
    expect(consumer.paused).toBe(true);
    expect(consumer.producerPaused).toBe(false);
    expect(consumer.rtpParameters.codecs.map((c) => c.mimeType)).toEqual(['video/VP8', 'video/rtx']);
    // One outgoing stream, with RTX by default for video.
    expect(consumer.rtpParameters.encodings).toHaveLength(1);
    expect(typeof consumer.rtpParameters.encodings![0].rtx?.ssrc).toBe('number');
    await expect(consumer.dump()).resolves.toMatchObject({ paused: true });
  });

  test('a simulcast consumer starts with the highest layers preferred', async () => {
    const consumer = await transport2.consume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities });
    expect(consumer.preferredLayers).toEqual({ spatialLayer: 1, temporalLayer: 2 });
  });

  test('consumers of one transport get consecutive MIDs', async () => {
    const a = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    const v = await transport2.consume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities });
    expect(a.rtpParameters.mid).not.toBe(v.rtpParameters.mid);
    expect(Number(v.rtpParameters.mid)).toBe(Number(a.rtpParameters.mid) + 1);
  });

  test('consume() keeps a MID the caller gives', async () => {
    const custom = await transport2.consume({
      producerId: audioProducer.id,
      rtpCapabilities: deviceCapabilities,
      mid: 'custom7',
    });
    expect(custom.rtpParameters.mid).toBe('custom7');
  });

  test('consume() refuses a MID the RTP stack cannot carry (only letters and digits)', async () => {
    await expect(
      transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities, mid: 'custom-mid' }),
    ).rejects.toThrow(TypeError);
  });

  test('consume() without RTX when enableRtx is false', async () => {
    const consumer = await transport2.consume({
      producerId: videoProducer.id,
      rtpCapabilities: deviceCapabilities,
      enableRtx: false,
    });
    expect(consumer.rtpParameters.codecs.map((c) => c.mimeType)).toEqual(['video/VP8']);
    expect(consumer.rtpParameters.encodings![0].rtx).toBeUndefined();
  });

  test('consume() of a paused producer reports producerPaused', async () => {
    await audioProducer.pause();
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    expect(consumer.paused).toBe(false);
    expect(consumer.producerPaused).toBe(true);
  });

  test('consume() with wrong arguments rejects with TypeError', async () => {
    const bad: unknown[] = [
      undefined,
      { rtpCapabilities: deviceCapabilities },
      { producerId: 123, rtpCapabilities: deviceCapabilities },
      { producerId: audioProducer.id },
      { producerId: audioProducer.id, rtpCapabilities: 'foo' },
      { producerId: audioProducer.id, rtpCapabilities: { codecs: 'foo' } },
      { producerId: audioProducer.id, rtpCapabilities: deviceCapabilities, appData: 'NOT-AN-OBJECT' },
      { producerId: audioProducer.id, rtpCapabilities: deviceCapabilities, mid: '' },
      { producerId: audioProducer.id, rtpCapabilities: deviceCapabilities, paused: 'no' },
    ];
    for (const options of bad) {
      await expect(transport2.consume(options as any)).rejects.toThrow(TypeError);
    }
    expect((await transport2.dump()).consumerIds).toEqual([]);
  });

  test('consume() of an unknown producer rejects with a plain Error', async () => {
    const error = await transport2
      .consume({ producerId: 'not-a-producer', rtpCapabilities: deviceCapabilities })
      .catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe('Producer with id "not-a-producer" not found');
  });

  test('consume() with incompatible capabilities rejects with UnsupportedError', async () => {
    const isacOnly: types.RtpCapabilities = {
      codecs: [{ kind: 'audio', mimeType: 'audio/ISAC', preferredPayloadType: 100, clockRate: 32000, channels: 1 }],
      headerExtensions: [],
    };
    for (const rtpCapabilities of [isacOnly, { codecs: [], headerExtensions: [] }]) {
      expect(router.canConsume({ producerId: audioProducer.id, rtpCapabilities })).toBe(false);
      await expect(transport2.consume({ producerId: audioProducer.id, rtpCapabilities })).rejects.toThrow(
        UnsupportedError,
      );
    }
  });

  test('dump() and getStats() have mediasoup\'s shapes', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    const dump = await consumer.dump();
    expect(dump.id).toBe(consumer.id);
    expect(dump.producerId).toBe(audioProducer.id);
    expect(dump.kind).toBe('audio');
    expect(dump.type).toBe('simple');
    expect(dump.paused).toBe(false);
    expect(dump.priority).toBe(1);
    expect(dump.rtpParameters.codecs[0]).toMatchObject({ mimeType: 'audio/opus', payloadType: 100 });
    expect(Array.isArray(dump.supportedCodecPayloadTypes)).toBe(true);
    expect(Array.isArray(dump.traceEventTypes)).toBe(true);
    const stats = await consumer.getStats();
    expect(Array.isArray(stats)).toBe(true);
    for (const stat of stats) {
      expect(['outbound-rtp', 'inbound-rtp']).toContain(stat.type);
    }
  });

  test('pause() and resume() change state and fire observer events once per change', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    const onPause = jest.fn();
    const onResume = jest.fn();
    consumer.observer.on('pause', onPause);
    consumer.observer.on('resume', onResume);

    await consumer.pause();
    expect(consumer.paused).toBe(true);
    await expect(consumer.dump()).resolves.toMatchObject({ paused: true });
    await consumer.resume();
    expect(consumer.paused).toBe(false);
    await expect(consumer.dump()).resolves.toMatchObject({ paused: false });

    void consumer.pause();
    void consumer.resume();
    void consumer.pause();
    void consumer.pause();
    await consumer.resume();
    expect(onPause).toHaveBeenCalledTimes(3);
    expect(onResume).toHaveBeenCalledTimes(3);
  });

  test('producer pause/resume reaches the consumer as producerpause/producerresume', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    const onObserverPause = jest.fn();
    const onObserverResume = jest.fn();
    consumer.observer.on('pause', onObserverPause);
    consumer.observer.on('resume', onObserverResume);

    await Promise.all([new Promise<void>((resolve) => consumer.once('producerpause', () => resolve())), audioProducer.pause()]);
    expect(consumer.paused).toBe(false);
    expect(consumer.producerPaused).toBe(true);
    expect(onObserverPause).toHaveBeenCalledTimes(1);

    await Promise.all([new Promise<void>((resolve) => consumer.once('producerresume', () => resolve())), audioProducer.resume()]);
    expect(consumer.producerPaused).toBe(false);
    expect(onObserverResume).toHaveBeenCalledTimes(1);
  });

  test('consumer.resume() while its producer is paused flows nothing until the producer resumes', async () => {
    const consumer = await transport2.consume({
      producerId: audioProducer.id,
      rtpCapabilities: deviceCapabilities,
      paused: true,
    });
    await Promise.all([new Promise<void>((resolve) => consumer.once('producerpause', () => resolve())), audioProducer.pause()]);
    const onObserverResume = jest.fn();
    consumer.observer.on('resume', onObserverResume);

    await consumer.resume();
    expect(consumer.paused).toBe(false);
    expect(consumer.producerPaused).toBe(true);
    // Media does not flow yet, so the observer says nothing.
    expect(onObserverResume).not.toHaveBeenCalled();

    await Promise.all([new Promise<void>((resolve) => consumer.once('producerresume', () => resolve())), audioProducer.resume()]);
    expect(onObserverResume).toHaveBeenCalledTimes(1);
  });

  test('consumer.dump() reports producerPaused', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    await expect(consumer.dump()).resolves.toMatchObject({ producerPaused: false });
    await Promise.all([new Promise<void>((resolve) => consumer.once('producerpause', () => resolve())), audioProducer.pause()]);
    await expect(consumer.dump()).resolves.toMatchObject({ producerPaused: true });
  });

  test('setPreferredLayers(), setPriority(), unsetPriority(), requestKeyFrame()', async () => {
    const audio = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    const video = await transport2.consume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities });

    await audio.setPreferredLayers({ spatialLayer: 1, temporalLayer: 1 });
    expect(audio.preferredLayers).toBeUndefined();
    await video.setPreferredLayers({ spatialLayer: 0, temporalLayer: 1 });
    expect(video.preferredLayers).toEqual({ spatialLayer: 0, temporalLayer: 1 });

    await video.setPriority(2);
    expect(video.priority).toBe(2);
    await video.unsetPriority();
    expect(video.priority).toBe(1);

    await expect(video.requestKeyFrame()).resolves.toBeUndefined();
  });

  test('preferred layers beyond the producer\'s are clamped to its highest', async () => {
    const video = await transport2.consume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities });
    await video.setPreferredLayers({ spatialLayer: 66, temporalLayer: 66 });
    expect(video.preferredLayers).toEqual({ spatialLayer: 1, temporalLayer: 2 });
  });

  test('setPreferredLayers() and setPriority() with wrong arguments reject with TypeError', async () => {
    const video = await transport2.consume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities });
    for (const layers of [{}, { foo: '123' }, 'foo', { temporalLayer: 2 }, { spatialLayer: 0, temporalLayer: 'x' }]) {
      await expect(video.setPreferredLayers(layers as any)).rejects.toThrow(TypeError);
    }
    for (const priority of [undefined, 0, -1, 'foo']) {
      await expect(video.setPriority(priority as any)).rejects.toThrow(TypeError);
    }
  });

  test('enableTraceEvent() keeps the known types', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    await consumer.enableTraceEvent(['rtp', 'FOO', 'pli'] as any);
    expect((await consumer.dump()).traceEventTypes).toEqual(['rtp', 'pli']);
  });

  test('enableTraceEvent() checks its argument', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    await expect(consumer.enableTraceEvent(123 as any)).rejects.toThrow(TypeError);
    await expect(consumer.enableTraceEvent('rtp' as any)).rejects.toThrow(TypeError);
    await expect(consumer.enableTraceEvent(['fir', 123.123] as any)).rejects.toThrow(TypeError);
  });

  test('score and layerschange events from the worker update the consumer', async () => {
    const consumer = await transport2.consume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities });
    const channel = (consumer as any).channelForTesting;
    const onScore = jest.fn();
    const onLayers = jest.fn();
    const onObserverLayers = jest.fn();
    consumer.on('score', onScore);
    consumer.on('layerschange', onLayers);
    consumer.observer.on('layerschange', onObserverLayers);

    const score = { score: 9, producerScore: 8, producerScores: [8, 7] };
    channel.emit(consumer.id, 'score', score);
    expect(onScore).toHaveBeenCalledWith(score);
    expect(consumer.score).toEqual(score);

    channel.emit(consumer.id, 'layerschange', { spatialLayer: 1, temporalLayer: 0 });
    expect(consumer.currentLayers).toEqual({ spatialLayer: 1, temporalLayer: 0 });
    channel.emit(consumer.id, 'layerschange', null);
    expect(consumer.currentLayers).toBeUndefined();
    expect(onLayers.mock.calls).toEqual([[{ spatialLayer: 1, temporalLayer: 0 }], [undefined]]);
    expect(onObserverLayers).toHaveBeenCalledTimes(2);
  });

  test('close() fires observer close once, and the transport and router forget it', async () => {
    const audio = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    const video = await transport2.consume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities });
    const onClose = jest.fn();
    audio.observer.on('close', onClose);
    audio.close();
    audio.close();
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(audio.closed).toBe(true);
    await expect(transport2.dump()).resolves.toMatchObject({ consumerIds: [video.id] });
  });

  test('methods reject with InvalidStateError once closed', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    consumer.close();
    await expect(consumer.dump()).rejects.toThrow(InvalidStateError);
    await expect(consumer.getStats()).rejects.toThrow(InvalidStateError);
    await expect(consumer.pause()).rejects.toThrow(InvalidStateError);
    await expect(consumer.resume()).rejects.toThrow(InvalidStateError);
    await expect(consumer.setPreferredLayers({ spatialLayer: 0 })).rejects.toThrow(InvalidStateError);
    await expect(consumer.setPriority(2)).rejects.toThrow(InvalidStateError);
    await expect(consumer.requestKeyFrame()).rejects.toThrow(InvalidStateError);
  });

  test('producer.close() closes its consumers with producerclose, once', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    const onProducerClose = jest.fn();
    const onObserverClose = jest.fn();
    const onTransportClose = jest.fn();
    consumer.on('producerclose', onProducerClose);
    consumer.observer.on('close', onObserverClose);
    consumer.on('transportclose', onTransportClose);
    const closed = new Promise<void>((resolve) => consumer.once('producerclose', () => resolve()));
    audioProducer.close();
    await closed;
    expect(onProducerClose).toHaveBeenCalledTimes(1);
    expect(onObserverClose).toHaveBeenCalledTimes(1);
    expect(consumer.closed).toBe(true);
    await expect(transport2.dump()).resolves.toMatchObject({ consumerIds: [] });
    // Closing the transport afterwards does not close it again.
    transport2.close();
    expect(onTransportClose).not.toHaveBeenCalled();
    expect(onObserverClose).toHaveBeenCalledTimes(1);
  });

  test('closing the producer\'s transport closes consumers elsewhere with producerclose', async () => {
    const consumer = await transport2.consume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities });
    const closed = new Promise<void>((resolve) => consumer.once('producerclose', () => resolve()));
    transport1.close();
    await closed;
    expect(consumer.closed).toBe(true);
  });

  test('transport.close() emits transportclose once on its consumers', async () => {
    const consumer = await transport2.consume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities });
    const onTransportClose = jest.fn();
    const onObserverClose = jest.fn();
    consumer.on('transportclose', onTransportClose);
    consumer.observer.on('close', onObserverClose);
    transport2.close();
    expect(onTransportClose).toHaveBeenCalledTimes(1);
    expect(onObserverClose).toHaveBeenCalledTimes(1);
    expect(consumer.closed).toBe(true);
    // The producer's transport still holds its producer; a new consumer works.
    await expect(
      transport1.consume({ producerId: videoProducer.id, rtpCapabilities: deviceCapabilities }),
    ).resolves.toBeDefined();
  });

  test('router.close() emits transportclose on consumers', async () => {
    const consumer = await transport2.consume({ producerId: audioProducer.id, rtpCapabilities: deviceCapabilities });
    const onTransportClose = jest.fn();
    consumer.on('transportclose', onTransportClose);
    router.close();
    expect(onTransportClose).toHaveBeenCalledTimes(1);
    expect(consumer.closed).toBe(true);
  });
});
