import * as mediasoup from '../lib';

afterEach(() => mediasoup.setLogEventListeners(undefined));

test('native logs reach setLogEventListeners() under opencall namespaces, filtered by logLevel', async () => {
  const debugLines: Array<[string, string]> = [];
  mediasoup.setLogEventListeners({ ondebug: (namespace, log) => debugLines.push([namespace, log]) });

  const quiet = await mediasoup.createWorker({ logLevel: 'warn' });
  await quiet.createRouter();
  await quiet.dump();
  quiet.close();
  expect(debugLines.some(([ns]) => ns === 'opencall:Worker:native')).toBe(false);

  const chatty = await mediasoup.createWorker({ logLevel: 'debug' });
  await chatty.createRouter();
  await chatty.dump(); // events are batched: this round trip lets the batch arrive
  await new Promise((resolve) => setTimeout(resolve, 20));
  chatty.close();
  const native = debugLines.filter(([ns]) => ns === 'opencall:Worker:native');
  expect(native.some(([, log]) => /router created/.test(log))).toBe(true);
  // JS-side loggers use the same listeners.
  expect(debugLines.some(([ns]) => ns === 'opencall:Worker')).toBe(true);
});

test('updateSettings() turns native debug logs on at run time', async () => {
  const lines: string[] = [];
  mediasoup.setLogEventListeners({ ondebug: (namespace, log) => namespace.endsWith(':native') && lines.push(log) });
  const worker = await mediasoup.createWorker({ logLevel: 'none' });
  await worker.createRouter();
  await worker.updateSettings({ logLevel: 'debug' });
  await worker.createRouter();
  await worker.dump();
  await new Promise((resolve) => setTimeout(resolve, 20));
  worker.close();
  expect(lines.filter((l) => /router created/.test(l))).toHaveLength(1);
});

test('two workers at different levels, changed at run time: each logs at its own level', async () => {
  const lines: string[] = [];
  mediasoup.setLogEventListeners({ ondebug: (namespace, log) => namespace.endsWith(':native') && lines.push(log) });
  const [first, second] = [await mediasoup.createWorker({ logLevel: 'none' }), await mediasoup.createWorker({ logLevel: 'warn' })];
  /** Whether a router made on `worker` now is logged. */
  const logsDebug = async (worker: mediasoup.types.Worker): Promise<boolean> => {
    const router = await worker.createRouter();
    await worker.dump(); // events are batched: this round trip lets the batch arrive
    await new Promise((resolve) => setTimeout(resolve, 20));
    return lines.some((l) => l.includes('router created') && l.includes(router.id));
  };
  await first.updateSettings({ logLevel: 'debug' });
  expect([await logsDebug(first), await logsDebug(second)]).toEqual([true, false]);
  await second.updateSettings({ logLevel: 'debug' });
  await first.updateSettings({ logLevel: 'none' });
  expect([await logsDebug(first), await logsDebug(second)]).toEqual([false, true]);
  first.close();
  second.close();
});
