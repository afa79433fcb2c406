'use strict';
/**
 * Janus (Debian's `janus` package, VideoRoom plugin) as the reference SFU:
 * started on loopback with a throw-away configuration, driven over its
 * HTTP API with SDP offers/answers made by the same load generator, on the
 * same traffic as the opencall fan-out. CPU is the whole Janus process's
 * (all its threads) from /proc, since Janus spreads a room over threads.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const CLK_TCK = 100;

function findPluginDir() {
  for (const lib of ['/usr/lib/x86_64-linux-gnu/janus', '/usr/lib/aarch64-linux-gnu/janus', '/usr/lib/janus', '/usr/local/lib/janus']) {
    if (fs.existsSync(path.join(lib, 'plugins', 'libjanus_videoroom.so'))) return lib;
  }
  return null;
}

/** Janus never gathers loopback candidates: use the host's first IPv4
 *  interface (traffic to it still stays on this machine). */
function hostInterface() {
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    const a = addrs.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return { name, ip: a.address };
  }
  return null;
}

function writeConfig(dir, lib, port, iface) {
  const keep = { plugins: 'libjanus_videoroom.so', transports: 'libjanus_http.so' };
  const disabled = (kind) =>
    fs
      .readdirSync(path.join(lib, kind))
      .filter((f) => f.endsWith('.so') && f !== keep[kind])
      .join(',');
  fs.writeFileSync(
    path.join(dir, 'janus.jcfg'),
    `general: {
  configs_folder = "${dir}"
  plugins_folder = "${lib}/plugins"
  transports_folder = "${lib}/transports"
  events_folder = "${lib}/events"
  loggers_folder = "${lib}/loggers"
  debug_level = 2
  session_timeout = 120
}
media: { rtp_port_range = "${port + 1000}-${port + 1999}" }
nat: { ice_lite = true  ice_enforce_list = "${iface.name}" }
plugins: { disable = "${disabled('plugins')}" }
transports: { disable = "${disabled('transports')}" }
events: { broadcast = false }
`,
  );
  fs.writeFileSync(
    path.join(dir, 'janus.transport.http.jcfg'),
    `general: { json = "compact" base_path = "/janus" http = true port = ${port} ip = "127.0.0.1" https = false }\nadmin: { admin_http = false }\n`,
  );
  fs.writeFileSync(path.join(dir, 'janus.plugin.videoroom.jcfg'), 'general: { }\n');
}

function processCpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** A Janus HTTP API session with a long-poll loop dispatching events. */
class JanusSession {
  constructor(base) {
    this.base = base;
    this.waiting = new Map();
    this.txn = 1;
    this.closed = false;
  }

  async post(url, body) {
    const r = await fetch(url, { method: 'POST', body: JSON.stringify({ transaction: `t${this.txn++}`, ...body }) });
    return r.json();
  }

  async start() {
    const r = await this.post(this.base, { janus: 'create' });
    this.id = r.data.id;
    this.url = `${this.base}/${this.id}`;
    this.poll();
  }

  async poll() {
    while (!this.closed) {
      try {
        const r = await fetch(`${this.url}?maxev=20`);
        const events = [].concat(await r.json());
        for (const e of events) {
          const w = this.waiting.get(e.sender);
          if (w && e.janus === 'event') {
            this.waiting.delete(e.sender);
            w(e);
          }
        }
      } catch {
        if (!this.closed) await new Promise((res) => setTimeout(res, 50));
      }
    }
  }

  async attach() {
    const r = await this.post(this.url, { janus: 'attach', plugin: 'janus.plugin.videoroom' });
    return r.data.id;
  }

  /** Sends a plugin message; resolves with the asynchronous event. */
  message(handle, body, jsep) {
    const ev = new Promise((resolve) => this.waiting.set(handle, resolve));
    return this.post(`${this.url}/${handle}`, { janus: 'message', body, ...(jsep ? { jsep } : {}) }).then((r) => {
      if (r.janus === 'success') {
        this.waiting.delete(handle);
        return r;
      }
      if (r.janus !== 'ack') throw new Error(`janus: ${JSON.stringify(r)}`);
      return ev;
    });
  }

  close() {
    this.closed = true;
  }
}

/** `measured`: the indices of the subscribers that record delays. */
async function bench(gen, mode, base, consumers, measured) {
  if (spawnSync('sh', ['-c', 'command -v janus']).status !== 0) return { unavailable: 'not available (janus not installed)' };
  const lib = findPluginDir();
  if (!lib) return { unavailable: 'not available (VideoRoom plugin not found)' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opencall-janus-'));
  const port = 18000 + Math.floor(Math.random() * 500);
  const iface = hostInterface();
  if (!iface) return { unavailable: 'not available (no IPv4 interface for Janus ICE)' };
  writeConfig(dir, lib, port, iface);
  const proc = spawn('janus', ['-F', dir, '-C', path.join(dir, 'janus.jcfg')], { stdio: 'ignore' });
  const session = new JanusSession(`http://127.0.0.1:${port}/janus`);
  const peers = [];
  try {
    for (let i = 0; ; i++) {
      try {
        await session.start();
        break;
      } catch (e) {
        if (i > 100) throw new Error(`janus did not start: ${e.message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const admin = await session.attach();
    const room = 1234;
    await session.message(admin, { request: 'create', room, publishers: 1, audiocodec: 'opus', videocodec: 'vp8', bitrate: 0 });

    const pubHandle = await session.attach();
    const pub = await gen.call({ cmd: 'sdp_publisher', ip: iface.ip });
    peers.push(pub.peer);
    const joined = await session.message(
      pubHandle,
      { request: 'joinandconfigure', room, ptype: 'publisher', audio: true, video: true },
      { type: 'offer', sdp: pub.sdp },
    );
    if (!joined.jsep) throw new Error(`publisher not answered: ${JSON.stringify(joined.plugindata)}`);
    await gen.call({ cmd: 'sdp_answer', peer: pub.peer, sdp: joined.jsep.sdp });
    await gen.call({ cmd: 'wait_connected', peers: [pub.peer], timeoutMs: 20000 });
    const feed = joined.plugindata.data.id;

    for (let i = 0; i < consumers; i++) {
      const h = await session.attach();
      // Janus only lists a feed once it has seen the publisher's WebRTC
      // come up on its side, which can lag our side's by a moment: retry
      // "No such feed" (428) briefly.
      let offer;
      for (let attempt = 0; ; attempt++) {
        offer = await session.message(h, { request: 'join', room, ptype: 'subscriber', streams: [{ feed }] });
        const code = offer.plugindata?.data?.error_code;
        if (offer.jsep || code !== 428 || attempt >= 50) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (!offer.jsep) throw new Error(`subscriber not offered: ${JSON.stringify(offer.plugindata)}`);
      const sub = await gen.call({ cmd: 'sdp_subscriber', ip: iface.ip, sdp: offer.jsep.sdp, measured: measured.includes(i), from: pub.peer });
      peers.push(sub.peer);
      await session.message(h, { request: 'start', room }, { type: 'answer', sdp: sub.sdp });
    }
    await gen.call({ cmd: 'wait_connected', peers, timeoutMs: 20000 });

    let before;
    let after;
    const r = await gen.call({ cmd: 'run', ...base, warmupMs: mode.warmupMs, durationMs: mode.durationMs }, (event) => {
      if (event === 'window_start') before = processCpuSeconds(proc.pid);
      if (event === 'window_end') after = processCpuSeconds(proc.pid);
    });
    const cpu = after - before;
    return {
      consumers,
      ...r,
      cpuSeconds: cpu,
      cpuPerForward: r.receivedForwards ? cpu / r.receivedForwards : null,
      version: spawnSync('janus', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0],
    };
  } catch (e) {
    return { unavailable: `failed: ${e.message}` };
  } finally {
    session.close();
    if (peers.length) await gen.call({ cmd: 'close', peers }).catch(() => {});
    proc.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { bench };
