// AudioLevelObserver and ActiveSpeakerObserver through the mediasoup API:
// options, producers, pause/resume, close and the router closing under them.
// Their reports on real media are checked in e2e/sfu.test.ts.
import * as mediasoup from '../lib';
import { InvalidStateError } from '../lib/errors';
import type { types } from '../lib';

const mediaCodecs: types.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

function producerOptions(kind: 'audio' | 'video', mid: string): types.ProducerOptions {
  const codec =
    kind === 'audio'
      ? { mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }
      : { mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 };
  return {
    kind,
    rtpParameters: {
      mid,
      codecs: [codec],
      headerExtensions: [
        { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 10 },
        { uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 12 },
      ],
      encodings: [{ ssrc: 1000 + mid.length }],
      rtcp: { cname: mid },
    },
  };
}

let worker: types.Worker;
let router: types.Router;
let transport: types.WebRtcTransport;

beforeAll(async () => {
  worker = await mediasoup.createWorker({ logLevel: 'warn' });
});
afterAll(() => worker.close());

beforeEach(async () => {
  router = await worker.createRouter({ mediaCodecs });
  transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
});
afterEach(() => router.close());

test('createAudioLevelObserver(): defaults, newrtpobserver, dump, close', async () => {
  const created: types.RtpObserver[] = [];
  router.observer.on('newrtpobserver', (o) => created.push(o));
  const observer = await router.createAudioLevelObserver({ appData: { room: 1 } });
  expect(observer.type).toBe('audiolevel');
  expect(observer.paused).toBe(false);
  expect(observer.closed).toBe(false);
  expect(observer.appData).toEqual({ room: 1 });
  expect(created).toEqual([observer]);
  expect((await router.dump()).rtpObserverIds).toEqual([observer.id]);

  const closed = jest.fn();
  observer.observer.on('close', closed);
  observer.close();
  observer.close();
  expect(observer.closed).toBe(true);
  expect(closed).toHaveBeenCalledTimes(1);
  expect((await router.dump()).rtpObserverIds).toEqual([]);
});

test('bad options are TypeErrors and create nothing', async () => {
  await expect(router.createAudioLevelObserver({ maxEntries: 0 })).rejects.toThrow(TypeError);
  await expect(router.createAudioLevelObserver({ threshold: 10 })).rejects.toThrow(TypeError);
  await expect(router.createAudioLevelObserver({ threshold: -128 })).rejects.toThrow(TypeError);
  await expect(router.createAudioLevelObserver({ interval: 'x' as unknown as number })).rejects.toThrow(TypeError);
  await expect(router.createActiveSpeakerObserver({ interval: NaN })).rejects.toThrow(TypeError);
  await expect(router.createActiveSpeakerObserver({ appData: 'x' as unknown as types.AppData })).rejects.toThrow(TypeError);
  expect((await router.dump()).rtpObserverIds).toEqual([]);
});

test('addProducer()/removeProducer(): audio producers only, each once; the router dump maps them', async () => {
  const observer = await router.createActiveSpeakerObserver({ interval: 500 });
  expect(observer.type).toBe('activespeaker');
  const audio = await transport.produce(producerOptions('audio', 'a'));
  const video = await transport.produce(producerOptions('video', 'vv'));
  const added: types.Producer[] = [];
  const removed: types.Producer[] = [];
  observer.observer.on('addproducer', (p) => added.push(p));
  observer.observer.on('removeproducer', (p) => removed.push(p));

  await observer.addProducer({ producerId: audio.id });
  expect(added).toEqual([audio]);
  await expect(observer.addProducer({ producerId: audio.id })).rejects.toThrow(/already/);
  await expect(observer.addProducer({ producerId: video.id })).rejects.toThrow(TypeError);
  await expect(observer.addProducer({ producerId: 'nope' })).rejects.toThrow('Producer with id "nope" not found');
  const dump = await router.dump();
  expect(dump.mapProducerIdObserverIds).toEqual([{ key: audio.id, values: [observer.id] }]);

  await observer.removeProducer({ producerId: audio.id });
  expect(removed).toEqual([audio]);
  await expect(observer.removeProducer({ producerId: audio.id })).rejects.toThrow(/not found/);
  expect((await router.dump()).mapProducerIdObserverIds).toEqual([]);

  // A closed producer leaves the observer by itself.
  await observer.addProducer({ producerId: audio.id });
  audio.close();
  await new Promise((r) => setTimeout(r, 20));
  expect((await router.dump()).mapProducerIdObserverIds).toEqual([]);
});

test('pause()/resume() fire once per change; a closed observer refuses requests', async () => {
  const observer = await router.createAudioLevelObserver();
  const events: string[] = [];
  observer.observer.on('pause', () => events.push('pause'));
  observer.observer.on('resume', () => events.push('resume'));
  await observer.pause();
  await observer.pause();
  expect(observer.paused).toBe(true);
  await observer.resume();
  await observer.resume();
  expect(observer.paused).toBe(false);
  expect(events).toEqual(['pause', 'resume']);
  observer.close();
  await expect(observer.pause()).rejects.toThrow(InvalidStateError);
});

test('closing the router closes its observers with routerclose', async () => {
  const a = await router.createAudioLevelObserver();
  const b = await router.createActiveSpeakerObserver();
  const heard: string[] = [];
  a.on('routerclose', () => heard.push('a'));
  b.on('routerclose', () => heard.push('b'));
  router.close();
  expect(heard.sort()).toEqual(['a', 'b']);
  expect(a.closed && b.closed).toBe(true);
});
