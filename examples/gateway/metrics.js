// Prometheus metrics of the gateway: calls and participants by mode,
// transitions, media-worker CPU and what the SFU forwards.
//
// Media objects are found through opencall's mediasoup-style observer
// (newworker → newrouter → newtransport → newconsumer), so the call layer
// needs no hooks for monitoring. Their figures are cumulative; a sampler turns
// them into counter increments, so that closing a consumer never makes a
// counter go backwards.
'use strict';
const client = require('prom-client');

const SAMPLE_INTERVAL_MS = 5_000;

/** Feeds a prom-client Counter from cumulative totals read per object. */
class CumulativeFeed {
  constructor(counter) {
    this.counter = counter;
    this.last = new Map();
  }

  observe(key, labels, total) {
    const previous = this.last.get(key) ?? 0;
    if (total > previous) this.counter.inc(labels, total - previous);
    this.last.set(key, total);
  }

  /** Drops the totals of a closed object (keys `${objectKey}:...`). */
  forgetObject(objectKey) {
    for (const key of this.last.keys()) if (key.startsWith(`${objectKey}:`)) this.last.delete(key);
  }
}

/**
 * @param {{ opencall: typeof import('opencall'), service: import('opencall/call').CallService, io: import('socket.io').Server }} deps
 */
function createMetrics({ opencall, service, io }) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'opencall_gateway_' });
  const metric = (Type, options) => new Type({ registers: [registry], ...options });

  // ------------------------------------------------------------ calls
  metric(client.Gauge, {
    name: 'opencall_calls',
    help: 'Calls owned by this gateway, by mode',
    labelNames: ['mode'],
    async collect() {
      const byMode = { p2p: 0, sfu: 0 };
      for (const call of await ownedCalls(service)) byMode[call.mode] += 1;
      for (const [mode, count] of Object.entries(byMode)) this.set({ mode }, count);
    },
  });
  metric(client.Gauge, {
    name: 'opencall_participants',
    help: 'Participants in calls owned by this gateway, by call mode',
    labelNames: ['mode'],
    async collect() {
      const byMode = { p2p: 0, sfu: 0 };
      for (const call of await ownedCalls(service)) byMode[call.mode] += call.participants.length;
      for (const [mode, count] of Object.entries(byMode)) this.set({ mode }, count);
    },
  });
  metric(client.Gauge, {
    name: 'opencall_calls_transitioning',
    help: 'Calls with a mode switch under way',
    async collect() {
      this.set((await ownedCalls(service)).filter((c) => c.transition).length);
    },
  });
  metric(client.Gauge, {
    name: 'opencall_socket_connections',
    help: 'Socket.IO clients connected to this gateway',
    collect() {
      this.set(io.engine.clientsCount);
    },
  });

  // ------------------------------------------------------ transitions
  const labelNames = ['from', 'to', 'trigger'];
  const started = metric(client.Counter, {
    name: 'opencall_transitions_started_total',
    help: 'Mode switches started',
    labelNames,
  });
  const completed = metric(client.Counter, {
    name: 'opencall_transitions_completed_total',
    help: 'Mode switches every participant acknowledged',
    labelNames,
  });
  const failed = metric(client.Counter, {
    name: 'opencall_transitions_failed_total',
    help: 'Mode switches that failed or timed out (the call stayed in its mode)',
    labelNames,
  });
  const duration = metric(client.Histogram, {
    name: 'opencall_transition_duration_seconds',
    help: 'From the switch order to the last acknowledgement',
    labelNames: ['from', 'to'],
    buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 10],
  });
  const labelsOf = (e) => ({ from: e.from, to: e.to, trigger: e.trigger });
  service.on('meeting:transition:started', (e) => started.inc(labelsOf(e)));
  service.on('meeting:transition:completed', (e) => {
    completed.inc(labelsOf(e));
    duration.observe({ from: e.from, to: e.to }, e.durationMs / 1000);
  });
  service.on('meeting:transition:failed', (e) => failed.inc(labelsOf(e)));

  const qualitySamples = metric(client.Counter, {
    name: 'opencall_quality_samples_total',
    help: 'Quality reports from P2P clients; `problem` is none, packet-loss, rtt or bitrate',
    labelNames: ['problem'],
  });
  service.on('quality-update', ({ problems }) => {
    if (problems.length === 0) qualitySamples.inc({ problem: 'none' });
    for (const problem of problems) qualitySamples.inc({ problem });
  });

  const iceRestarts = metric(client.Counter, {
    name: 'opencall_sfu_ice_restarts_total',
    help: 'ICE restarts clients asked for after losing an SFU transport (network changes, outages)',
  });
  service.on('sfu:ice-restart', () => iceRestarts.inc());

  // ------------------------------------------------------ media plane
  const workerCpu = new CumulativeFeed(
    metric(client.Counter, {
      name: 'opencall_worker_cpu_seconds_total',
      help: 'CPU time of each media worker thread',
      labelNames: ['worker', 'mode'],
    }),
  );
  const forwardedPackets = new CumulativeFeed(
    metric(client.Counter, {
      name: 'opencall_forwarded_packets_total',
      help: 'RTP packets the SFU sent to consumers',
      labelNames: ['kind'],
    }),
  );
  const forwardedBytes = new CumulativeFeed(
    metric(client.Counter, {
      name: 'opencall_forwarded_bytes_total',
      help: 'RTP bytes the SFU sent to consumers',
      labelNames: ['kind'],
    }),
  );
  const transportBytes = new CumulativeFeed(
    metric(client.Counter, {
      name: 'opencall_transport_bytes_total',
      help: 'Bytes on WebRTC transports (all of ICE, DTLS, RTP, RTCP), by direction',
      labelNames: ['direction'],
    }),
  );
  const workerGauge = metric(client.Gauge, { name: 'opencall_workers', help: 'Media workers alive' });
  const transportGauge = metric(client.Gauge, { name: 'opencall_transports', help: 'WebRTC transports open' });
  const consumerGauge = metric(client.Gauge, { name: 'opencall_consumers', help: 'Consumers open' });

  const workers = new Set();
  const transports = new Set();
  const consumers = new Set();
  // Keys of an object's figures in the feeds start with `${key}:`.
  const watch = (set, object, key, feeds) => {
    set.add(object);
    object.observer.once('close', () => {
      set.delete(object);
      for (const feed of feeds) feed.forgetObject(key);
    });
  };
  const onNewWorker = (worker) => {
    watch(workers, worker, worker.pid, [workerCpu]);
    worker.observer.on('newrouter', (router) =>
      router.observer.on('newtransport', (transport) => {
        watch(transports, transport, transport.id, [transportBytes]);
        transport.observer.on('newconsumer', (consumer) =>
          watch(consumers, consumer, consumer.id, [forwardedPackets, forwardedBytes]),
        );
      }),
    );
  };
  opencall.observer.on('newworker', onNewWorker);

  // Reads every object's figures once; concurrent callers share the run.
  let sampling = null;
  const sampleOnce = async () => {
    await Promise.allSettled([
      ...[...workers].map(async (worker) => {
        const usage = await worker.getResourceUsage();
        const worker_ = String(worker.pid);
        workerCpu.observe(`${worker.pid}:user`, { worker: worker_, mode: 'user' }, usage.ru_utime / 1000);
        workerCpu.observe(`${worker.pid}:system`, { worker: worker_, mode: 'system' }, usage.ru_stime / 1000);
      }),
      ...[...transports].map(async (transport) => {
        for (const stat of await transport.getStats()) {
          transportBytes.observe(`${transport.id}:in`, { direction: 'in' }, stat.bytesReceived ?? 0);
          transportBytes.observe(`${transport.id}:out`, { direction: 'out' }, stat.bytesSent ?? 0);
        }
      }),
      ...[...consumers].map(async (consumer) => {
        const sent = (await consumer.getStats()).filter((s) => s.type === 'outbound-rtp');
        const sum = (field) => sent.reduce((total, s) => total + (s[field] ?? 0), 0);
        forwardedPackets.observe(`${consumer.id}:packets`, { kind: consumer.kind }, sum('packetCount'));
        forwardedBytes.observe(`${consumer.id}:bytes`, { kind: consumer.kind }, sum('byteCount'));
      }),
    ]);
    workerGauge.set(workers.size);
    transportGauge.set(transports.size);
    consumerGauge.set(consumers.size);
  };
  const sample = () => {
    sampling ??= sampleOnce().finally(() => {
      sampling = null;
    });
    return sampling;
  };
  // Between scrapes too, so that little is lost when an object closes.
  const timer = setInterval(() => void sample(), SAMPLE_INTERVAL_MS);
  timer.unref();

  return {
    contentType: registry.contentType,
    async render() {
      await sample();
      return registry.metrics();
    },
    close() {
      clearInterval(timer);
      opencall.observer.off('newworker', onNewWorker);
    },
  };
}

async function ownedCalls(service) {
  const calls = await Promise.all(service.ownedCallIds.map((id) => service.getCall(id)));
  return calls.filter(Boolean);
}

module.exports = { createMetrics };
