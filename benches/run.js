#!/usr/bin/env node
/* eslint-disable no-console */
/**
 * `npm run bench`: what the SFU costs per packet, per participant and per
 * call, next to the floor (a minimal SRTP relay) and, where installed, a
 * real peer SFU.
 *
 *   node benches/run.js [--quick|--full] [--sfu opencall|mediasoup|<module path>[,...]]
 *                       [--only forwarding,maxload,scale,memory,multicore,janus] [--out file.json] [--no-build]
 *                       [--webrtc-server]   (forwarding through one WebRtcServer socket)
 *                       [--fanout 1,10,50,200]   (the forwarding scenario's fan-outs)
 *
 * The SFU is driven only through the mediasoup v3 API (createWorker, Router,
 * WebRtcTransport, Producer, Consumer), so any mediasoup-compatible module
 * can be put under test. The browsers are played by the Rust load generator
 * (benches/loadgen, a cargo example), which speaks ICE/DTLS/SRTP to the SFU
 * over UDP on 127.0.0.1 and reports loss and one-way delays. Worker CPU is
 * read from worker.getResourceUsage() at the edges of each measurement
 * window.
 */
'use strict';

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const v8 = require('node:v8');
const vm = require('node:vm');
const { spawn, spawnSync } = require('node:child_process');
const readline = require('node:readline');
const janus = require('./janus');

const ROOT = path.resolve(__dirname, '..');

// RSS figures are deltas: collect garbage first so that JS heap churn
// does not land on the SFU's account.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const TARGETS = {
  ppsPerCore: 200000,
  floorRatio: 1.5,
  janusRatio: 3,
  latencyP99At50Us: 1000,
  rssPerTransportKB: 100,
  rssPerVideoConsumerKB: 64,
  twoWorkerScaling: 1.8,
};

const MEDIA_CODECS = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];
const LISTEN = { listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] };
/** One producer: video ≈ 1 Mbit/s in 1,200-byte packets, opus at 50 pps. */
const BASE = { videoPps: 100, audioPps: 50 };
/** Janus's fan-out: compared with opencall's at the same N. */
const JANUS_CONSUMERS = 50;

function parseArgs(argv) {
  const o = { mode: 'quick', sfus: ['opencall'], only: null, out: null, build: true, webRtcServer: false, fanout: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.mode = 'quick';
    else if (a === '--full') o.mode = 'full';
    else if (a === '--sfu') o.sfus = argv[++i].split(',');
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '--out') o.out = argv[++i];
    else if (a === '--no-build') o.build = false;
    else if (a === '--webrtc-server') o.webRtcServer = true;
    else if (a === '--fanout') {
      o.fanout = (argv[++i] ?? '').split(',').map(Number);
      if (!o.fanout.every((n) => Number.isInteger(n) && n > 0)) throw new Error('--fanout takes consumer counts, e.g. --fanout 50,200');
    }
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('*/')[0]);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

const MODES = {
  quick: {
    fanout: [1, 10, 50, 200],
    warmupMs: 1000,
    durationMs: 2000,
    maxloadConsumers: 50,
    maxloadSteps: [20000, 60000, 120000, 200000, 260000],
    scale: [
      [10, 5],
      [4, 10],
      [1, 25],
    ],
    multicore: [4, 5],
    spreadCall: [1, 25],
  },
  full: {
    fanout: [1, 10, 50, 200],
    warmupMs: 2000,
    durationMs: 6000,
    maxloadConsumers: 50,
    maxloadSteps: [20000, 40000, 60000, 80000, 100000, 120000, 140000, 170000, 200000, 240000, 280000, 330000],
    scale: [
      [10, 5],
      [4, 10],
      [1, 25],
    ],
    multicore: [4, 10],
    spreadCall: [1, 25],
  },
};

// ---------------------------------------------------------------------------
// The SFU module under test

function loadSfu(name) {
  try {
    if (name === 'opencall') return require(ROOT);
    if (name === 'mediasoup') return require('mediasoup');
    return require(path.resolve(name));
  } catch (e) {
    return { unavailable: `not available (${e.code || e.message})` };
  }
}

/** RSS of the process holding a worker: mediasoup runs workers as
 *  subprocesses, opencall as threads of this process. */
function workerRssBytes(worker) {
  try {
    const status = fs.readFileSync(`/proc/${worker.pid}/status`, 'utf8');
    const tgid = Number(/Tgid:\s+(\d+)/.exec(status)[1]);
    if (tgid !== process.pid) return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) * 1024;
  } catch {
    /* fall through */
  }
  return process.memoryUsage().rss;
}

/** Inodes of the sockets a process holds (Linux; empty elsewhere). */
function socketInodes(pid) {
  const inodes = new Set();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    /* no /proc */
  }
  return inodes;
}

/**
 * Datagrams the kernel dropped because a UDP socket's receive buffer was
 * full, summed per side: `sfu` (the process holding the workers: its
 * ingress) and `gen` (the load generator: its receivers). Loss with drops on
 * the SFU side means the worker fell behind; on the generator side, that the
 * generator did. Cumulative counters; take a difference.
 */
function udpDrops(sfuPid, genPid) {
  const sides = { sfu: socketInodes(sfuPid), gen: socketInodes(genPid) };
  const drops = { sfu: 0, gen: 0 };
  let text = '';
  try {
    text = fs.readFileSync('/proc/net/udp', 'utf8') + fs.readFileSync('/proc/net/udp6', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    if (f.length < 13 || !/^\d+:$/.test(f[0])) continue;
    for (const side of ['sfu', 'gen']) if (sides[side].has(f[9])) drops[side] += Number(f[12]);
  }
  return drops;
}

/** The process whose sockets a worker uses: its own for subprocess
 *  workers (mediasoup), this one for thread workers (opencall). */
function workerProcessPid(worker) {
  try {
    const status = fs.readFileSync(`/proc/${worker.pid}/status`, 'utf8');
    return Number(/Tgid:\s+(\d+)/.exec(status)[1]);
  } catch {
    return process.pid;
  }
}

async function cpuSeconds(worker) {
  const u = await worker.getResourceUsage();
  return (u.ru_utime + u.ru_stime) / 1000;
}

// ---------------------------------------------------------------------------
// The load generator

function loadgenPath() {
  const target = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
  return path.join(target, 'release', 'examples', 'loadgen');
}

function buildLoadgen() {
  const r = spawnSync('cargo', ['build', '--release', '--no-default-features', '--example', 'loadgen'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error('cargo build of the load generator failed');
}

class LoadGen {
  constructor(bin) {
    this.proc = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.pending = new Map();
    this.nextId = 1;
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        console.error(`loadgen: ${line}`);
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.event) {
        if (p.onEvent) p.onEvent(msg.event);
        return;
      }
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`loadgen: ${msg.error}`));
      else p.resolve(msg.result);
    });
    this.proc.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`loadgen exited (${code})`));
      this.pending.clear();
    });
  }

  call(cmd, onEvent) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onEvent });
      this.proc.stdin.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  }

  close() {
    this.proc.stdin.end();
  }
}

const transportParams = (t) => ({
  iceParameters: t.iceParameters,
  iceCandidates: t.iceCandidates,
  dtlsParameters: t.dtlsParameters,
});

function percentile(values, p) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.round((s.length - 1) * p)];
}

/** Times one control-plane operation into `ops[name]` (milliseconds). */
async function timed(ops, name, fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  (ops[name] ||= []).push(Number(process.hrtime.bigint() - t0) / 1e6);
  return r;
}

/**
 * A call: `senders` participants produce audio + video; every receiving
 * participant consumes every other participant's producers. `routers`: one
 * router, or several (on different workers) that the participants are
 * dealt over in turn, each producer piped to the routers of its consumers,
 * as the call layer spreads a large call. Returns what the measurement and
 * the teardown need.
 */
async function setupCall(gen, routers, { participants, fanout, measured, ops }) {
  routers = [].concat(routers);
  const routerOf = (participant) => routers[participant % routers.length];
  // Participants of a fan-out are receivers only; in an all-to-all call
  // everyone sends and receives (two transports, as mediasoup-client does).
  const senders = fanout ? 1 : participants;
  const receivers = fanout ? fanout : participants;
  const measuredOnes = measuredReceivers(receivers, measured);
  const specs = [
    ...Array.from({ length: senders }, (_, i) => ({ role: 'send', router: routerOf(i) })),
    ...Array.from({ length: receivers }, (_, i) => ({ role: 'recv', measured: measuredOnes.includes(i), router: routerOf(i) })),
  ];
  const { transports, peers } = await connectPeers(gen, routers[0], specs, ops);
  const sendTs = transports.slice(0, senders);
  const recvTs = transports.slice(senders);
  const senderPeers = peers.slice(0, senders);
  const recvPeers = peers.slice(senders);
  const producers = [];
  for (let s = 0; s < senders; s++) {
    const produced = await produceMedia(gen, routerOf(s), sendTs[s], senderPeers[s], fanout ? -1 : s, ops);
    for (const other of routers.filter((r) => r !== routerOf(s))) {
      for (const producer of produced.list) {
        await timed(ops, 'pipe', () => routerOf(s).pipeToRouter({ producerId: producer.id, router: other }));
      }
    }
    producers.push(produced);
  }
  let consumers = 0;
  for (let r = 0; r < receivers; r++) {
    const theirs = producers.filter((p) => p.owner !== r);
    consumers += await consumeAll(gen, routerOf(r), recvTs[r], recvPeers[r], theirs, ops);
  }
  return { peers, transports: transports.length, consumers, recvTs, recvPeers };
}

/**
 * Which of `n` receivers record delays: `count` of them, spread from the
 * first to the last consumer (a router sends a packet's copies in the order
 * its consumers came, so the last copy waits for all the others). The floor
 * relay and the Janus run are given the same choice.
 */
function measuredReceivers(n, count) {
  if (count <= 0) return [];
  if (count === 1) return [0];
  return [...new Set(Array.from({ length: count }, (_, k) => Math.floor((k * (n - 1) + Math.floor((count - 1) / 2)) / (count - 1))))];
}

/** The floor relay at fan-out `n` and these rates, its first and last receivers recording delays. */
function floorRelay(gen, n, rates, mode) {
  return gen.call({ cmd: 'floor', consumers: n, measured: measuredReceivers(n, 2), ...rates, warmupMs: 500, durationMs: mode.durationMs });
}

/** Transports for generator peers (`specs`: role, measured, router if not `router`), connected. */
async function connectPeers(gen, router, specs, ops) {
  const transports = [];
  for (const spec of specs) {
    const on = spec.router ?? router;
    // A router may carry other transport options (a WebRtcServer) in its appData.
    const options = on.appData.transportOptions ?? LISTEN;
    transports.push(await timed(ops, 'create', () => on.createWebRtcTransport(options)));
  }
  const answers = await gen.call({
    cmd: 'peers',
    routerRtpCapabilities: router.rtpCapabilities,
    peers: specs.map(({ role, measured }, i) => ({ role, measured, transport: transportParams(transports[i]) })),
  });
  for (let i = 0; i < transports.length; i++) {
    await timed(ops, 'connect', () => transports[i].connect({ dtlsParameters: answers[i].dtlsParameters }));
  }
  const peers = answers.map((p) => p.peer);
  await gen.call({ cmd: 'wait_connected', peers, timeoutMs: 20000 });
  return { transports, peers };
}

/** A sender's video and audio producers; `owner`: its receiver index (-1: none). */
async function produceMedia(gen, router, transport, peer, owner, ops) {
  const params = await gen.call({ cmd: 'produce', peer, routerRtpCapabilities: router.rtpCapabilities });
  const video = await timed(ops, 'produce', () => transport.produce({ kind: 'video', rtpParameters: params.video }));
  const audio = await timed(ops, 'produce', () => transport.produce({ kind: 'audio', rtpParameters: params.audio }));
  return { from: peer, owner, list: [video, audio] };
}

/** One receiver consumes every producer of `producers`; returns how many. */
async function consumeAll(gen, router, transport, peer, producers, ops) {
  const list = [];
  for (const p of producers) {
    for (const producer of p.list) {
      const c = await timed(ops, 'consume', () =>
        transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities }),
      );
      list.push({ kind: c.kind, rtpParameters: c.rtpParameters, from: p.from });
    }
  }
  await gen.call({ cmd: 'consume', peer, consumers: list });
  return list.length;
}

/** One measurement window on the current peers; CPU per worker in seconds. */
async function measure(gen, workers, rates, mode) {
  let before;
  let after;
  let dropsBefore;
  const sfuPid = workerProcessPid(workers[0]);
  const result = await gen.call(
    { cmd: 'run', ...rates, warmupMs: mode.warmupMs, durationMs: mode.durationMs },
    (event) => {
      if (event === 'window_start') {
        before = Promise.all(workers.map(cpuSeconds));
        dropsBefore = udpDrops(sfuPid, gen.proc.pid);
      }
      if (event === 'window_end') after = Promise.all(workers.map(cpuSeconds));
    },
  );
  // After the generator's drain period, so that late drops are counted.
  const dropsAfter = udpDrops(sfuPid, gen.proc.pid);
  const [b, a] = [await before, await after];
  result.workerCpuSeconds = a.map((x, i) => x - b[i]);
  result.generatorCpu = result.generatorCpuSeconds / result.windowSeconds;
  result.udpDrops = dropsBefore && dropsAfter ? { sfu: dropsAfter.sfu - dropsBefore.sfu, gen: dropsAfter.gen - dropsBefore.gen } : null;
  const cpu = result.workerCpuSeconds.reduce((x, y) => x + y, 0);
  result.cpuPerForward = result.receivedForwards ? cpu / result.receivedForwards : null;
  result.cpuUtilization = Math.max(...result.workerCpuSeconds) / result.windowSeconds;
  return result;
}

const ratesFor = (fwdPps, consumers) => {
  // Scale video; keep opus at 50 pps as a real call does.
  const ingest = fwdPps / consumers;
  return { audioPps: BASE.audioPps, videoPps: Math.max(1, ingest - BASE.audioPps) };
};

// ---------------------------------------------------------------------------
// Scenarios

async function forwarding(sfu, gen, mode, report) {
  const rows = [];
  for (const n of mode.fanout) {
    const floor = await floorRelay(gen, n, BASE, mode);
    const worker = await sfu.createWorker({ logLevel: 'warn' });
    const server = mode.webRtcServer ? await worker.createWebRtcServer(LISTEN) : null;
    const router = await worker.createRouter({
      mediaCodecs: MEDIA_CODECS,
      appData: server ? { transportOptions: { webRtcServer: server } } : {},
    });
    const ops = {};
    const rssBefore = (gc(), workerRssBytes(worker));
    const call = await setupCall(gen, router, { fanout: n, measured: Math.min(n, 2), ops });
    const r = await measure(gen, [worker], BASE, mode);
    gc();
    const rssAfter = workerRssBytes(worker);
    await gen.call({ cmd: 'close', peers: call.peers });
    worker.close();
    const row = {
      consumers: n,
      sfu: r,
      floor,
      ratio: r.cpuPerForward && floor.cpuPerForward ? r.cpuPerForward / floor.cpuPerForward : null,
      rssPerConsumerPairKB: (rssAfter - rssBefore) / 1024 / (n + 1),
    };
    rows.push(row);
    console.log(
      `  fan-out 1→${n}: ${fmtUs(r.cpuPerForward)} µs/pkt (floor ${fmtUs(floor.cpuPerForward)}, ×${fmt(row.ratio, 2)}), ` +
        `${fmt(r.forwardedPps, 0)} pkt/s, loss ${fmtPct(r.loss)} (${fmtSides(r)}), p50/p99 ${fmt(r.latencyUs.p50, 0)}/${fmt(r.latencyUs.p99, 0)} µs (${fmtCopies(r)})`,
    );
  }
  report.forwarding = rows;
}

async function maxload(sfu, gen, mode, report) {
  const n = mode.maxloadConsumers;
  const worker = await sfu.createWorker({ logLevel: 'warn' });
  const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
  const call = await setupCall(gen, router, { fanout: n, measured: 2, ops: {} });
  const steps = [];
  let best = null;
  for (const target of mode.maxloadSteps) {
    const r = await measure(gen, [worker], ratesFor(target, n), mode);
    steps.push({ targetPps: target, ...r });
    console.log(
      `  load ${target} pkt/s: forwarded ${fmt(r.forwardedPps, 0)}, loss ${fmtPct(r.loss)} (${fmtSides(r)}), worker CPU ${fmtPct(r.cpuUtilization)}, ` +
        `${fmtUs(r.cpuPerForward)} µs/pkt, p50/p99 ${fmt(r.latencyUs.p50, 0)}/${fmt(r.latencyUs.p99, 0)} µs`,
    );
    if (r.loss > 0.01) break;
    best = { targetPps: target, ...r };
    if (r.cpuUtilization > 0.95) break;
  }
  // Latency at 10 / 50 / 90 % of the highest loss-free load.
  const latency = [];
  if (best) {
    for (const f of [0.1, 0.5, 0.9]) {
      const r = await measure(gen, [worker], ratesFor(best.forwardedPps * f, n), mode);
      latency.push({ fraction: f, ...r });
      console.log(
        `  latency at ${f * 100}%: p50 ${fmt(r.latencyUs.p50, 0)} µs, p99 ${fmt(r.latencyUs.p99, 0)} µs (${fmtCopies(r)}), loss ${fmtPct(r.loss)}`,
      );
    }
  }
  const floorAtMax = best
    ? await floorRelay(gen, n, ratesFor(best.forwardedPps, n), mode)
    : null;
  await gen.call({ cmd: 'close', peers: call.peers });
  worker.close();
  report.maxload = {
    consumers: n,
    steps,
    maxLossFreePps: best ? best.forwardedPps : null,
    cpuUtilizationAtMax: best ? best.cpuUtilization : null,
    ppsPerCoreEstimate: best && best.cpuPerForward ? 1 / best.cpuPerForward : null,
    latency,
    floorAtMax,
  };
}

/**
 * Calls × participants, all-to-all, on `workerCount` workers: calls dealt
 * over the workers, or with `spread` each call over all of them (a router
 * per worker, producers piped between them).
 */
async function allToAll(sfu, gen, mode, calls, participants, workerCount, { spread = false, rates = BASE } = {}) {
  const workers = [];
  for (let i = 0; i < workerCount; i++) workers.push(await sfu.createWorker({ logLevel: 'warn' }));
  gc();
  const rss0 = workerRssBytes(workers[0]);
  const ops = {};
  const setups = [];
  let transports = 0;
  let consumers = 0;
  for (let c = 0; c < calls; c++) {
    const on = spread ? workers : [workers[c % workerCount]];
    const routers = await Promise.all(on.map((w) => w.createRouter({ mediaCodecs: MEDIA_CODECS })));
    const s = await setupCall(gen, routers, { participants, measured: c === 0 ? 1 : 0, ops });
    setups.push(s);
    transports += s.transports;
    consumers += s.consumers;
  }
  const r = await measure(gen, workers, rates, mode);
  gc();
  const rss1 = workerRssBytes(workers[0]);
  for (const s of setups) await gen.call({ cmd: 'close', peers: s.peers });
  for (const w of workers) w.close();
  const totalCpu = r.workerCpuSeconds.reduce((a, b) => a + b, 0);
  return {
    calls,
    participants,
    workers: workerCount,
    spread,
    transports,
    consumers,
    ...r,
    cpuPerParticipantPct: (100 * totalCpu) / r.windowSeconds / (calls * participants),
    rssPerTransportKB: (rss1 - rss0) / 1024 / transports,
    rssPerConsumerKB: (rss1 - rss0) / 1024 / consumers,
    controlPlaneMs: Object.fromEntries(
      Object.entries(ops).map(([k, v]) => [k, { count: v.length, p50: percentile(v, 0.5), p99: percentile(v, 0.99) }]),
    ),
  };
}

async function scale(sfu, gen, mode, report) {
  report.scale = [];
  for (const [calls, participants] of mode.scale) {
    const r = await allToAll(sfu, gen, mode, calls, participants, 1);
    report.scale.push(r);
    const cp = r.controlPlaneMs;
    console.log(
      `  ${calls} × ${participants}: ${fmt(r.cpuPerParticipantPct, 2)} % core/participant, ${fmt(r.forwardedPps, 0)} pkt/s, ` +
        `loss ${fmtPct(r.loss)} (${fmtSides(r)}), worker CPU ${fmtPct(r.cpuUtilization)}, RSS ${fmt(r.rssPerTransportKB, 0)} KB/transport (all-in), ` +
        `control p50/p99 ms: create ${fmt(cp.create.p50, 2)}/${fmt(cp.create.p99, 2)} connect ${fmt(cp.connect.p50, 2)}/${fmt(cp.connect.p99, 2)} ` +
        `produce ${fmt(cp.produce.p50, 2)}/${fmt(cp.produce.p99, 2)} consume ${fmt(cp.consume.p50, 2)}/${fmt(cp.consume.p99, 2)}`,
    );
  }
}

/** Memory per connected transport (no media) and per active video consumer. */
async function memory(sfu, gen, mode, report) {
  const worker = await sfu.createWorker({ logLevel: 'warn' });
  const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
  const n = 100;
  gc();
  const rss0 = workerRssBytes(worker);
  const idle = await connectPeers(gen, router, Array.from({ length: n }, () => ({ role: 'recv' })), {});
  gc();
  const rss1 = workerRssBytes(worker);
  // Media long enough for every per-stream and per-transport history to
  // reach its steady size: each video consumer's RTX history (1 s of
  // packets on loopback, more with a longer round trip) and the send-side
  // estimator's record of sent packets (grown until it holds 2 s of them).
  const window = { warmupMs: 500, durationMs: 8000 };
  const router2 = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
  const call = await setupCall(gen, router2, { fanout: n, measured: 0, ops: {} });
  gc();
  const rss2 = workerRssBytes(worker);
  await measure(gen, [worker], BASE, window);
  gc();
  const rss3 = workerRssBytes(worker);
  // One more video consumer on each of those transports: what an active
  // video consumer costs beyond the transport it rides on (JS object and
  // heap growth included).
  const second = await connectPeers(gen, router2, [{ role: 'send' }], {});
  const sender = await produceMedia(gen, router2, second.transports[0], second.peers[0], -1, {});
  const videoOnly = { ...sender, list: sender.list.filter((p) => p.kind === 'video') };
  for (let r = 0; r < n; r++) await consumeAll(gen, router2, call.recvTs[r], call.recvPeers[r], [videoOnly], {});
  await measure(gen, [worker], BASE, window);
  gc();
  const rss4 = workerRssBytes(worker);
  await gen.call({ cmd: 'close', peers: [...idle.peers, ...call.peers, ...second.peers] });
  worker.close();
  report.memory = {
    transports: n,
    rssPerConnectedTransportKB: (rss1 - rss0) / 1024 / n,
    // A receiver: its transport, one video and one audio consumer, and
    // what media adds to both (caches, estimator history).
    rssPerReceiverWithMediaKB: (rss3 - rss1) / 1024 / n,
    rssMediaStatePerReceiverKB: (rss3 - rss2) / 1024 / n,
    rssPerActiveVideoConsumerKB: (rss4 - rss3) / 1024 / n,
  };
  console.log(
    `  RSS: ${fmt(report.memory.rssPerConnectedTransportKB, 1)} KB per connected transport, ` +
      `${fmt(report.memory.rssPerReceiverWithMediaKB, 1)} KB per receiver with media (transport + video + audio consumer), ` +
      `${fmt(report.memory.rssPerActiveVideoConsumerKB, 1)} KB per further active video consumer`,
  );
}

/** `memory` in a child process of its own; returns its report. */
function memoryInFreshProcess(sfuName, modeName) {
  const file = path.join(os.tmpdir(), `opencall-bench-memory-${process.pid}.json`);
  const r = spawnSync(
    process.execPath,
    [__filename, `--${modeName}`, '--only', 'memory', '--no-build', '--sfu', sfuName, '--out', file],
    { cwd: process.cwd(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = (r.stdout || '').split('\n').find((l) => l.includes('RSS:'));
  if (line) console.log(line);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')).results[sfuName].memory ?? null;
  } catch {
    console.log(`  memory: the child process failed (${r.status})`);
    return null;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/**
 * The two-worker comparison runs each producer's video at 4× the base rate:
 * at the base rate each of two workers is only a few per cent busy, and a
 * ratio of two small CPU readings is mostly their noise.
 */
const MULTICORE_RATES = { audioPps: BASE.audioPps, videoPps: 4 * BASE.videoPps };

async function multicore(sfu, gen, mode, report) {
  const [calls, participants] = mode.multicore;
  const rates = MULTICORE_RATES;
  // A ratio of two CPU readings: a longer window halves its noise.
  const long = { ...mode, durationMs: 2 * mode.durationMs };
  const one = await allToAll(sfu, gen, long, calls, participants, 1, { rates });
  const two = await allToAll(sfu, gen, long, calls, participants, 2, { rates });
  // One large call over two workers, as the call layer spreads it: against
  // the same call on one worker (the scale scenario's, if it ran).
  const [bigCalls, bigParticipants] = mode.spreadCall;
  const bigOne =
    report.scale?.find((r) => r.calls === bigCalls && r.participants === bigParticipants) ??
    (await allToAll(sfu, gen, mode, bigCalls, bigParticipants, 1));
  const bigTwo = await allToAll(sfu, gen, mode, bigCalls, bigParticipants, 2, { spread: true });
  // A fixed load on a 2-core machine shared with the generator cannot
  // saturate two workers; capacity is estimated from CPU per packet and
  // from the busiest worker (the first to saturate).
  const capacity = (r) => r.forwardedPps / r.cpuUtilization;
  report.multicore = {
    calls,
    participants,
    one,
    two,
    scaling: capacity(two) / capacity(one),
    spreadCall: { calls: bigCalls, participants: bigParticipants, one: bigOne, two: bigTwo, scaling: capacity(bigTwo) / capacity(bigOne) },
    cpus: os.cpus().length,
  };
  const cpuShares = (r) => r.workerCpuSeconds.map((c) => fmtPct(c / r.windowSeconds)).join(' + ');
  console.log(
    `  ${calls} × ${participants} (video ${rates.videoPps} pkt/s per producer): ${fmt(one.forwardedPps, 0)} pkt/s, ` +
      `one worker ${fmtPct(one.cpuUtilization)} CPU, two workers ${cpuShares(two)}: scaling ×${fmt(report.multicore.scaling, 2)}`,
  );
  const pipe = bigTwo.controlPlaneMs.pipe;
  console.log(
    `  ${bigCalls} × ${bigParticipants} spread over two workers (piped): ${fmt(bigTwo.forwardedPps, 0)} pkt/s, loss ${fmtPct(bigTwo.loss)}, ` +
      `workers ${cpuShares(bigTwo)} (one worker: ${fmt(bigOne.forwardedPps, 0)} pkt/s, loss ${fmtPct(bigOne.loss)}, ${fmtPct(bigOne.cpuUtilization)}): ` +
      `scaling ×${fmt(report.multicore.spreadCall.scaling, 2)}, pipeToRouter p50/p99 ${fmt(pipe?.p50, 2)}/${fmt(pipe?.p99, 2)} ms`,
  );
}

// ---------------------------------------------------------------------------
// Output

const fmt = (v, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(d));
const fmtUs = (s) => (s ? (s * 1e6).toFixed(2) : '–');
const fmtPct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)} %`);
/** Who may have dropped: the generator's CPU share and the kernel's drops
 *  at each side's sockets. */
const fmtSides = (r) =>
  `gen CPU ${fmtPct(r.generatorCpu)}` + (r.udpDrops ? `, drops SFU ${r.udpDrops.sfu} / gen ${r.udpDrops.gen}` : '');
/** The delays of a fan-out's first and last copies (its first and last
 *  consumers' receivers, the measured ones), p50/p99 µs. */
const fmtCopies = (r) => {
  const by = r.latencyByReceiverUs ?? [];
  if (by.length < 2) return 'one receiver';
  const [first, last] = [by[0], by.at(-1)];
  return `first copy ${fmt(first.p50, 0)}/${fmt(first.p99, 0)}, last ${fmt(last.p50, 0)}/${fmt(last.p99, 0)}`;
};
const ok = (good) => (good === null ? '' : good ? ' ✓' : ' ✗');

function table(results, janusReport) {
  const names = Object.keys(results);
  const lines = [];
  const row = (label, target, f) => lines.push(`| ${label} | ${names.map((n) => f(results[n]) ?? '–').join(' | ')} | ${target} |`);
  lines.push(`| metric | ${names.join(' | ')} | target |`);
  lines.push(`|---|${names.map(() => '---:').join('|')}|---|`);
  for (const n of names) if (results[n].unavailable) lines.push(`| ${n} | ${results[n].unavailable} | | |`);
  const ok1 = (rep) => !rep.unavailable;
  const fw = (rep, i) => (ok1(rep) && rep.forwarding ? rep.forwarding[i] : null);
  const nFan = Object.values(results).find((r) => r.forwarding)?.forwarding.map((r) => r.consumers) ?? [];
  nFan.forEach((c, i) => {
    row(`CPU µs per forwarded packet, 1→${c}`, '', (r) => (fw(r, i) ? fmtUs(fw(r, i).sfu.cpuPerForward) : null));
    row(`  floor µs/pkt, 1→${c}`, '', (r) => (fw(r, i) ? fmtUs(fw(r, i).floor.cpuPerForward) : null));
    row(`  SFU / floor, 1→${c}`, `≤ ${TARGETS.floorRatio}`, (r) =>
      fw(r, i) ? fmt(fw(r, i).ratio, 2) + ok(fw(r, i).ratio <= TARGETS.floorRatio) : null,
    );
    row(`  forwarded pkt/s, loss, 1→${c}`, '', (r) =>
      fw(r, i) ? `${fmt(fw(r, i).sfu.forwardedPps, 0)}, ${fmtPct(fw(r, i).sfu.loss)}` : null,
    );
  });
  row('max loss-free forwarded pkt/s (1 worker)', '', (r) => (r.maxload ? `${fmt(r.maxload.maxLossFreePps, 0)} at ${fmtPct(r.maxload.cpuUtilizationAtMax)} CPU` : null));
  row('  first lossy step (generator CPU, UDP drops)', '', (r) => {
    const last = r.maxload?.steps.at(-1);
    return last && last.loss > 0.01 ? `${fmt(last.targetPps, 0)}: ${fmtPct(last.loss)} (${fmtSides(last)})` : null;
  });
  row('pkt/s per worker core (1 / CPU per pkt at max)', `≥ ${TARGETS.ppsPerCore}`, (r) =>
    r.maxload ? fmt(r.maxload.ppsPerCoreEstimate, 0) + ok(r.maxload.ppsPerCoreEstimate >= TARGETS.ppsPerCore) : null,
  );
  row('floor µs/pkt at max load', '', (r) => (r.maxload?.floorAtMax ? fmtUs(r.maxload.floorAtMax.cpuPerForward) : null));
  // Both copies pooled, and the last copy alone: the target is judged on
  // the last (the consumer that waits for all the others).
  for (const [i, f] of [0.1, 0.5, 0.9].entries()) {
    row(`added latency p50 / p99 µs at ${f * 100} % (first and last copy pooled)`, '', (r) => {
      const l = r.maxload?.latency?.[i];
      return l ? `${fmt(l.latencyUs.p50, 0)} / ${fmt(l.latencyUs.p99, 0)}` : null;
    });
    row(`  last copy of the fan-out: p50 / p99 µs at ${f * 100} %`, f === 0.5 ? `p99 ≤ ${TARGETS.latencyP99At50Us}` : '', (r) => {
      const last = r.maxload?.latency?.[i]?.latencyByReceiverUs?.at(-1);
      return last ? `${fmt(last.p50, 0)} / ${fmt(last.p99, 0)}` + (f === 0.5 ? ok(last.p99 <= TARGETS.latencyP99At50Us) : '') : null;
    });
  }
  const floorLat = (r) => r.maxload?.floorAtMax?.latencyUs;
  row('  floor relay latency p50 / p99 µs at max', '', (r) => (floorLat(r) ? `${fmt(floorLat(r).p50, 0)} / ${fmt(floorLat(r).p99, 0)}` : null));
  for (const [i, [c, p]] of (Object.values(results).find((r) => r.scale)?.scale.map((s) => [s.calls, s.participants]) ?? []).entries()) {
    const s = (r) => r.scale?.[i];
    row(`${c} calls × ${p}: % core per participant`, '', (r) => (s(r) ? fmt(s(r).cpuPerParticipantPct, 2) : null));
    row(`  ${c} × ${p}: pkt/s, loss (generator CPU, UDP drops)`, '', (r) =>
      s(r) ? `${fmt(s(r).forwardedPps, 0)}, ${fmtPct(s(r).loss)} (${fmtSides(s(r))})` : null,
    );
    row(`  ${c} × ${p}: RSS KB per transport / per consumer (all-in)`, '', (r) =>
      s(r) ? `${fmt(s(r).rssPerTransportKB, 0)} / ${fmt(s(r).rssPerConsumerKB, 0)}` : null,
    );
    for (const op of ['create', 'connect', 'produce', 'consume']) {
      row(`  ${c} × ${p}: ${op} p50 / p99 ms`, '', (r) =>
        s(r)?.controlPlaneMs[op] ? `${fmt(s(r).controlPlaneMs[op].p50, 2)} / ${fmt(s(r).controlPlaneMs[op].p99, 2)}` : null,
      );
    }
  }
  row('RSS per connected transport KB', `≤ ${TARGETS.rssPerTransportKB}`, (r) =>
    r.memory ? fmt(r.memory.rssPerConnectedTransportKB, 1) + ok(r.memory.rssPerConnectedTransportKB <= TARGETS.rssPerTransportKB) : null,
  );
  row('  RSS per receiver with media KB (transport + video + audio consumer)', '', (r) =>
    r.memory ? fmt(r.memory.rssPerReceiverWithMediaKB, 1) : null,
  );
  row('RSS per further active video consumer KB', `≤ ${TARGETS.rssPerVideoConsumerKB}`, (r) =>
    r.memory ? fmt(r.memory.rssPerActiveVideoConsumerKB, 1) + ok(r.memory.rssPerActiveVideoConsumerKB <= TARGETS.rssPerVideoConsumerKB) : null,
  );
  row('two workers / one (capacity)', `≥ ${TARGETS.twoWorkerScaling}`, (r) =>
    r.multicore ? fmt(r.multicore.scaling, 2) + ok(r.multicore.scaling >= TARGETS.twoWorkerScaling) : null,
  );
  row('  one call spread over two workers (piped) / on one: capacity; pkt/s, loss on two', '', (r) => {
    const big = r.multicore?.spreadCall;
    return big ? `${big.calls} × ${big.participants}: ${fmt(big.scaling, 2)}; ${fmt(big.two.forwardedPps, 0)}, ${fmtPct(big.two.loss)}` : null;
  });
  if (janusReport) {
    const j = janusReport;
    if (j.unavailable) lines.push(`| Janus VideoRoom | ${j.unavailable} | | |`);
    else {
      row('Janus VideoRoom µs/pkt, same fan-out', '', () => fmtUs(j.cpuPerForward));
      row('Janus / SFU per packet', `≥ ${TARGETS.janusRatio}`, (r) => {
        const mine = r.forwarding?.find((f) => f.consumers === j.consumers)?.sfu.cpuPerForward;
        return mine && j.cpuPerForward ? fmt(j.cpuPerForward / mine, 2) + ok(j.cpuPerForward / mine >= TARGETS.janusRatio) : null;
      });
    }
  }
  return lines.join('\n');
}

function machine() {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model, cores: cpus.length, kernel: os.release(), node: process.version, memGB: Math.round(os.totalmem() / 2 ** 30) };
}

// ---------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const mode = { ...MODES[opts.mode], webRtcServer: opts.webRtcServer };
  if (opts.fanout) mode.fanout = opts.fanout;
  const want = (s) => !opts.only || opts.only.includes(s);
  if (opts.build) buildLoadgen();
  const gen = new LoadGen(loadgenPath());
  const results = {};
  const timings = [];
  const started = Date.now();
  try {
    for (const name of opts.sfus) {
      const sfu = loadSfu(name);
      console.log(`\n== ${name} (${opts.mode})`);
      if (sfu.unavailable) {
        console.log(`  ${sfu.unavailable}`);
        results[name] = { unavailable: sfu.unavailable };
        continue;
      }
      const report = { version: sfu.version, scenarioSeconds: {} };
      results[name] = report;
      const run = async (scenario, f) => {
        if (!want(scenario)) return;
        const t0 = Date.now();
        await f();
        report.scenarioSeconds[scenario] = (Date.now() - t0) / 1000;
      };
      await run('forwarding', () => forwarding(sfu, gen, mode, report));
      await run('maxload', () => maxload(sfu, gen, mode, report));
      await run('scale', () => scale(sfu, gen, mode, report));
      await run('memory', async () => {
        // RSS deltas mean something only in a process that has not yet
        // grown (and kept) its heaps for the other scenarios.
        if (opts.only?.length === 1) await memory(sfu, gen, mode, report);
        else report.memory = memoryInFreshProcess(name, opts.mode);
      });
      await run('multicore', () => multicore(sfu, gen, mode, report));
      timings.push(`${name}: ${Object.entries(report.scenarioSeconds).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ')}`);
    }
    let janusReport = null;
    if (want('janus')) {
      console.log('\n== Janus VideoRoom');
      const t0 = Date.now();
      janusReport = await janus.bench(gen, mode, BASE, JANUS_CONSUMERS, measuredReceivers(JANUS_CONSUMERS, 2));
      janusReport.seconds = (Date.now() - t0) / 1000;
      timings.push(`janus ${janusReport.seconds.toFixed(0)} s`);
      console.log(`  ${janusReport.unavailable ?? `${fmtUs(janusReport.cpuPerForward)} µs/pkt`}`);
    }
    const out = {
      mode: opts.mode,
      date: new Date().toISOString(),
      machine: machine(),
      seconds: (Date.now() - started) / 1000,
      targets: TARGETS,
      results,
      janus: janusReport,
    };
    const file = opts.out || path.join(__dirname, 'results', `bench-${opts.mode}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\n${table(results, janusReport)}\n`);
    console.log(`machine: ${out.machine.cpu}, ${out.machine.cores} cores, Linux ${out.machine.kernel}, Node ${out.machine.node}`);
    console.log(`${opts.mode} mode took ${out.seconds.toFixed(0)} s (${timings.join('; ')}); JSON written to ${path.relative(process.cwd(), file)}`);
  } finally {
    gen.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
