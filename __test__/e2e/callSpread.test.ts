// A call larger than one router's share, in real browsers: with two workers
// and maxParticipantsPerRouter 2, four participants' transports land on two
// routers on two workers (threads), and each producer is piped to the other
// router. Everyone must decode everyone; when the far router's participants
// leave, it is closed and the rest keep decoding.
import { randomUUID } from 'node:crypto';
import { createWorker, type types } from '../../lib';
import type { MediaWorkerFactory } from '../../lib/call';
import { startCallGateway, type CallGateway } from './gateway/callGateway';
import { E2eHarness, waitFor, type Participant } from './harness';
import { pageState, waitForDecoding } from './gateway/callFigures';
import type { CallPageJoinOptions } from './page/call-types';

jest.setTimeout(90_000);

describe('call spread over two workers', () => {
  let gateway: CallGateway;
  let harness: E2eHarness;
  const callId = `e2e-spread-${randomUUID()}`;
  /** Each worker's routers, and its transports with the participant each is for. */
  type WorkerRecord = { pid: number; routers: types.Router[]; transports: [types.Transport, string][] };
  const workers: WorkerRecord[] = [];

  const recordingFactory: MediaWorkerFactory = async (settings) => {
    const worker = await createWorker(settings);
    const entry: WorkerRecord = { pid: worker.pid, routers: [], transports: [] };
    workers.push(entry);
    worker.observer.on('newrouter', (router) => {
      entry.routers.push(router);
      router.observer.on('newtransport', (transport) => {
        const { participantId } = transport.appData as { participantId?: string };
        if (participantId) entry.transports.push([transport, participantId]);
      });
    });
    return worker;
  };

  beforeAll(async () => {
    gateway = await startCallGateway({ createWorker: recordingFactory, numWorkers: 2, maxParticipantsPerRouter: 2 });
    harness = await E2eHarness.start();
  });

  afterAll(async () => {
    await harness?.close();
    await gateway?.close();
    expect(harness.leftoverProcesses()).toEqual([]);
  });

  async function enter(name: string): Promise<Participant> {
    const p = await harness.join(name, 'call');
    const opts: CallPageJoinOptions = { url: gateway.url, callId, participantId: name };
    await p.call('join', opts);
    return p;
  }

  /** Participants with a live transport, per worker. */
  const participantsPerWorker = (): string[][] =>
    workers.map((w) => [...new Set(w.transports.filter(([t]) => !t.closed).map(([, owner]) => owner))].sort());

  it('four participants on two workers decode each other; the far router closes when emptied', async () => {
    const names = ['a', 'b', 'c', 'd'];
    const pages: Participant[] = [];
    for (const name of names) pages.push(await enter(name));
    await Promise.all(pages.map((p) => waitForDecoding(p, names.filter((n) => n !== p.name), 'sfu', 30_000)));
    for (const p of pages) expect((await pageState(p)).mode).toBe('sfu');

    // Two routers on two workers, two participants each.
    const placed = await waitFor(() => {
      const now = participantsPerWorker();
      return now.flat().length === 4 ? now : null;
    }, { what: 'every participant placed on a router' });
    console.log(`participants per worker: ${JSON.stringify(placed)} (worker thread ids ${workers.map((w) => w.pid).join(', ')})`);
    expect(placed.map((p) => p.length)).toEqual([2, 2]);
    const far = workers.find((w, i) => placed[i]!.includes('d'))!;
    const farRouter = far.routers.find((r) => !r.closed)!;
    // Each participant's two producers, piped to the router of the other pair.
    const dump = await farRouter.dump();
    expect(dump.mapProducerIdConsumerIds).toHaveLength(8);

    // The far pair leaves one by one: the others keep decoding whoever stays.
    const farPair = placed[workers.indexOf(far)]!;
    const [first, second] = farPair.map((n) => pages.find((p) => p.name === n)!) as [Participant, Participant];
    const stay = pages.filter((p) => !farPair.includes(p.name));
    await first.call('leave');
    await first.close();
    await Promise.all([...stay, second].map((p) => waitForDecoding(p, [...stay, second].filter((q) => q !== p).map((q) => q.name), 'sfu')));
    expect(farRouter.closed).toBe(false);
    await second.call('leave');
    await second.close();
    // Closed for being empty, not with the whole SFU session: the home
    // router is still open, and the call still SFU (hysteresis 2 s).
    const homeRouter = workers.find((w) => w !== far)!.routers.find((r) => !r.closed)!;
    await waitFor(() => farRouter.closed, { what: 'the emptied far router closed', timeoutMs: 1_500 });
    expect(homeRouter.closed).toBe(false);
    expect((await gateway.service.getCall(callId))?.mode).toBe('sfu');
    // Back to two participants: P2P after the hysteresis, still decoding.
    await Promise.all(stay.map((p) => waitForDecoding(p, stay.filter((q) => q !== p).map((q) => q.name), 'p2p', 30_000)));
    for (const p of stay) expect((await pageState(p)).errors).toEqual([]);
  });
});
