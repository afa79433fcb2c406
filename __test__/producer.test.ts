import * as mediasoup from '../lib';
import { InvalidStateError, UnsupportedError } from '../lib/errors';
import type { types } from '../lib';

const mediaCodecs: types.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: { 'level-asymmetry-allowed': 1, 'packetization-mode': 1, 'profile-level-id': '4d0032' },
  },
];

/** What mediasoup-client sends for a microphone track. */
function audioOptions(): types.ProducerOptions<{ track: string }> {
  return {
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
      headerExtensions: [
        { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 10 },
        { uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 12 },
      ],
      // No encodings on purpose: one is implied.
      rtcp: { cname: 'audio-1' },
    },
    appData: { track: 'mic' },
  };
}

/** Three VP8 simulcast encodings with RTX, as a browser sends them. */
function videoOptions(): types.ProducerOptions {
  return {
    kind: 'video',
    rtpParameters: {
      mid: 'VIDEO',
      codecs: [
        {
          mimeType: 'video/VP8',
          payloadType: 96,
          clockRate: 90000,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }],
        },
        { mimeType: 'video/rtx', payloadType: 97, clockRate: 90000, parameters: { apt: 96 } },
      ],
      headerExtensions: [
        { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 10 },
        { uri: 'urn:3gpp:video-orientation', id: 13 },
      ],
      encodings: [
        { ssrc: 22222222, rtx: { ssrc: 22222223 } },
        { ssrc: 22222224, rtx: { ssrc: 22222225 } },
        { ssrc: 22222226, rtx: { ssrc: 22222227 } },
      ],
      rtcp: { cname: 'video-1' },
    },
  };
}


describe('Producer', () => {
  let worker: types.Worker;
  let router: types.Router;
  let transport1: types.WebRtcTransport;
  let transport2: types.WebRtcTransport;

  beforeEach(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    router = await worker.createRouter({ mediaCodecs });
    transport1 = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
    transport2 = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
  });

  afterEach(() => worker.close());

  test('produce() of audio: shape, observer, dumps', async () => {
    const onNewProducer = jest.fn();
    transport1.observer.once('newproducer', onNewProducer);
    const producer = await transport1.produce(audioOptions());

    expect(onNewProducer).toHaveBeenCalledTimes(1);
    expect(onNewProducer).toHaveBeenCalledWith(producer);
    expect(typeof producer.id).toBe('string');
    expect(producer.closed).toBe(false);
    expect(producer.kind).toBe('audio');
    expect(producer.type).toBe('simple');
    expect(producer.paused).toBe(false);
    expect(producer.score).toEqual([]);
    expect(producer.appData).toEqual({ track: 'mic' });
    expect(producer.rtpParameters.codecs[0]).toMatchObject({ mimeType: 'audio/opus', payloadType: 111 });
    expect(producer.rtpParameters.encodings).toHaveLength(1);
    expect(producer.rtpParameters.rtcp?.cname).toBe('audio-1');
    // Consumable parameters use the router's payload types, not the endpoint's.
    const routerOpus = router.rtpCapabilities.codecs!.find((c) => c.mimeType === 'audio/opus')!;
    expect(producer.consumableRtpParameters.codecs[0].payloadType).toBe(routerOpus.preferredPayloadType);
    expect(producer.consumableRtpParameters.encodings).toHaveLength(1);

    await expect(transport1.dump()).resolves.toMatchObject({
      id: transport1.id,
      producerIds: [producer.id],
      consumerIds: [],
    });
  });

  test('router.dump() maps producers as mediasoup\'s key/values arrays', async () => {
    const producer = await transport1.produce(audioOptions());
    await expect(router.dump()).resolves.toMatchObject({
      mapProducerIdConsumerIds: [{ key: producer.id, values: [] }],
      mapConsumerIdProducerId: [],
    });
    producer.close();
    await expect(router.dump()).resolves.toMatchObject({ mapProducerIdConsumerIds: [] });
  });

  test('produce() of simulcast video is of type simulcast', async () => {
    const producer = await transport2.produce(videoOptions());
    expect(producer.kind).toBe('video');
    expect(producer.type).toBe('simulcast');
    expect(producer.appData).toEqual({});
    expect(producer.consumableRtpParameters.encodings).toHaveLength(3);
  });

  test('produce() with a given id keeps it, and refuses it twice on the transport', async () => {
    const producer = await transport1.produce({ ...audioOptions(), id: 'my-own-producer-id' });
    expect(producer.id).toBe('my-own-producer-id');
    await expect(transport1.produce({ ...videoOptions(), id: 'my-own-producer-id' })).rejects.toThrow(TypeError);
  });

  test('producers of one transport share the first CNAME given', async () => {
    const audio = await transport1.produce(audioOptions());
    const video = await transport1.produce(videoOptions());
    expect(audio.rtpParameters.rtcp?.cname).toBe('audio-1');
    expect(video.rtpParameters.rtcp?.cname).toBe('audio-1');
  });

  test('produce() does not change the caller\'s parameters', async () => {
    const options = audioOptions();
    const copy = JSON.parse(JSON.stringify(options));
    Object.freeze(options.rtpParameters);
    await transport1.produce(options);
    expect(JSON.parse(JSON.stringify(options))).toEqual(copy);
  });

  test('produce() with wrong arguments rejects with TypeError', async () => {
    const bad: unknown[] = [
      undefined,
      { kind: 'chicken', rtpParameters: {} },
      { kind: 'audio' },
      { kind: 'audio', rtpParameters: 'foo' },
      { ...audioOptions(), appData: 'NOT-AN-OBJECT' },
      { ...audioOptions(), paused: 'yes' },
      { ...audioOptions(), keyFrameRequestDelay: -1 },
      // What the worker's validation rejects:
      { kind: 'audio', rtpParameters: {} },
      {
        kind: 'audio',
        rtpParameters: { codecs: [], headerExtensions: [], encodings: [{ ssrc: '1111' }], rtcp: { cname: 'x' } },
      },
      {
        // RTX pointing at a payload type that is not there.
        kind: 'video',
        rtpParameters: {
          mid: 'V',
          codecs: [
            { mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 },
            { mimeType: 'video/rtx', payloadType: 97, clockRate: 90000, parameters: { apt: 95 } },
          ],
          encodings: [{ ssrc: 6666, rtx: { ssrc: 6667 } }],
        },
      },
    ];
    for (const options of bad) {
      await expect(transport1.produce(options as any)).rejects.toThrow(TypeError);
    }
    expect((await transport1.dump()).producerIds).toEqual([]);
  });

  test('produce() with a codec the router lacks rejects with UnsupportedError', async () => {
    await expect(
      transport1.produce({
        kind: 'audio',
        rtpParameters: {
          mid: 'A',
          codecs: [{ mimeType: 'audio/ISAC', payloadType: 108, clockRate: 32000 }],
          encodings: [{ ssrc: 1111 }],
        },
      }),
    ).rejects.toThrow(UnsupportedError);
  });

  test('produce() with a MID or SSRC already in use rejects with Error', async () => {
    await transport1.produce(audioOptions());
    await expect(transport1.produce(audioOptions())).rejects.toThrow(Error);
  });

  test('dump() and getStats() have mediasoup\'s shapes', async () => {
    const producer = await transport2.produce(videoOptions());
    const dump = await producer.dump();
    expect(dump.id).toBe(producer.id);
    expect(dump.kind).toBe('video');
    expect(dump.type).toBe('simulcast');
    expect(dump.paused).toBe(false);
    expect(dump.rtpParameters.codecs.map((c) => c.mimeType)).toEqual(['video/VP8', 'video/rtx']);
    expect(dump.rtpParameters.encodings).toMatchObject([
      { ssrc: 22222222, rtx: { ssrc: 22222223 } },
      { ssrc: 22222224, rtx: { ssrc: 22222225 } },
      { ssrc: 22222226, rtx: { ssrc: 22222227 } },
    ]);
    expect(Array.isArray(dump.traceEventTypes)).toBe(true);
    const stats = await producer.getStats();
    expect(Array.isArray(stats)).toBe(true);
    for (const stat of stats) {
      expect(stat).toMatchObject({ type: 'inbound-rtp', kind: 'video', mimeType: 'video/VP8', packetCount: 0 });
      expect(stat.rid).toBeUndefined();
    }
  });

  test('producer.getStats() is empty until RTP arrives', async () => {
    const producer = await transport2.produce(videoOptions());
    await expect(producer.getStats()).resolves.toEqual([]);
  });

  test('pause() and resume() change state and fire observer events once per change', async () => {
    const producer = await transport1.produce(audioOptions());
    const onPause = jest.fn();
    const onResume = jest.fn();
    producer.observer.on('pause', onPause);
    producer.observer.on('resume', onResume);

    await producer.pause();
    expect(producer.paused).toBe(true);
    await expect(producer.dump()).resolves.toMatchObject({ paused: true });
    await producer.pause();
    expect(onPause).toHaveBeenCalledTimes(1);
    await producer.resume();
    expect(producer.paused).toBe(false);
    await expect(producer.dump()).resolves.toMatchObject({ paused: false });

    // Not awaited: each change still fires, in order.
    void producer.pause();
    void producer.resume();
    void producer.pause();
    void producer.pause();
    await producer.resume();
    expect(onPause).toHaveBeenCalledTimes(3);
    expect(onResume).toHaveBeenCalledTimes(3);
    expect(producer.paused).toBe(false);
  });

  test('produce() paused starts paused', async () => {
    const producer = await transport1.produce({ ...audioOptions(), paused: true });
    expect(producer.paused).toBe(true);
    await expect(producer.dump()).resolves.toMatchObject({ paused: true });
  });

  test('enableTraceEvent() keeps the known types', async () => {
    const producer = await transport1.produce(audioOptions());
    await producer.enableTraceEvent(['nack', 'FOO', 'fir'] as any);
    expect((await producer.dump()).traceEventTypes).toEqual(['nack', 'fir']);
  });

  test('enableTraceEvent() checks its argument', async () => {
    const producer = await transport1.produce(audioOptions());
    await expect(producer.enableTraceEvent(123 as any)).rejects.toThrow(TypeError);
    await expect(producer.enableTraceEvent('rtp' as any)).rejects.toThrow(TypeError);
    await expect(producer.enableTraceEvent(['fir', 123.123] as any)).rejects.toThrow(TypeError);
  });

  test('score events from the worker update score', async () => {
    const producer = await transport2.produce(videoOptions());
    const channel = (producer as any).channelForTesting;
    const onScore = jest.fn();
    const onObserverScore = jest.fn();
    producer.on('score', onScore);
    producer.observer.on('score', onObserverScore);
    const scores = [
      { encodingIdx: 0, ssrc: 22222222, score: 10 },
      { encodingIdx: 1, ssrc: 22222224, score: 9 },
    ];
    channel.emit(producer.id, 'score', scores);
    channel.emit(producer.id, 'score', scores);
    expect(onScore).toHaveBeenCalledTimes(2);
    expect(onObserverScore).toHaveBeenCalledTimes(2);
    expect(producer.score).toEqual(scores);
  });

  test('close() fires observer close once, and the router and transport forget it', async () => {
    const producer = await transport1.produce(audioOptions());
    const onClose = jest.fn();
    const onTransportClose = jest.fn();
    producer.observer.on('close', onClose);
    producer.on('transportclose', onTransportClose);
    producer.close();
    producer.close();
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(onTransportClose).not.toHaveBeenCalled();
    expect(producer.closed).toBe(true);
    expect(router.canConsume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities })).toBe(false);
    await expect(transport1.dump()).resolves.toMatchObject({ producerIds: [], consumerIds: [] });
  });

  test('methods reject with InvalidStateError once closed', async () => {
    const producer = await transport1.produce(audioOptions());
    producer.close();
    await expect(producer.dump()).rejects.toThrow(InvalidStateError);
    await expect(producer.getStats()).rejects.toThrow(InvalidStateError);
    await expect(producer.pause()).rejects.toThrow(InvalidStateError);
    await expect(producer.resume()).rejects.toThrow(InvalidStateError);
    await expect(producer.enableTraceEvent([])).rejects.toThrow(InvalidStateError);
  });

  test('transport.close() emits transportclose once on its producers', async () => {
    const producer = await transport2.produce(videoOptions());
    const onTransportClose = jest.fn();
    const onClose = jest.fn();
    producer.on('transportclose', onTransportClose);
    producer.observer.on('close', onClose);
    transport2.close();
    expect(onTransportClose).toHaveBeenCalledTimes(1);
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(producer.closed).toBe(true);
    expect(router.canConsume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities })).toBe(false);
    producer.close();
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  test('router.close() emits transportclose on producers', async () => {
    const producer = await transport1.produce(audioOptions());
    const onTransportClose = jest.fn();
    producer.on('transportclose', onTransportClose);
    router.close();
    expect(onTransportClose).toHaveBeenCalledTimes(1);
    expect(producer.closed).toBe(true);
  });

  test('send() is for DirectTransport producers only', async () => {
    const producer = await transport1.produce(audioOptions());
    expect(() => producer.send('x' as any)).toThrow(TypeError);
    expect(() => producer.send(Buffer.alloc(12))).toThrow(UnsupportedError);
  });
});
