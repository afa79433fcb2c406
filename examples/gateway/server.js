#!/usr/bin/env node
// A video-call gateway on opencall: Socket.IO signaling, calls that move
// between P2P and SFU on their own (opencall/call), the call page, /metrics
// and /health. Only the package's public entry points are used, exactly as a
// project depending on opencall would use them.
//
//   npm start                      → http://localhost:3000
//   PORT=8080 DEBUG=opencall:* npm start
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const createDebug = require('debug');
const { Server } = require('socket.io');
const opencall = require('opencall');
const { CallService, MemoryCallStore, RedisCallStore, attachCallService } = require('opencall/call');
const { loadConfig } = require('./config');
const { createMetrics } = require('./metrics');

const debug = createDebug('opencall:gateway');
const PUBLIC_DIR = path.join(__dirname, 'public');
const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

/** Builds the call page when its bundle is missing or older than its sources. */
async function ensurePage() {
  let build;
  try {
    ({ buildDemo: build } = require('../../scripts/build-demo'));
  } catch (error) {
    // esbuild is a development dependency: an installed copy serves what it has.
    if (fs.existsSync(path.join(PUBLIC_DIR, 'index.html'))) return;
    throw error;
  }
  await build({ onlyIfStale: true });
}

/** Multi-node setup: a Redis store for call state and the Redis adapter for Socket.IO rooms. */
function useRedis(io, url) {
  // Optional peer dependencies: loaded only when REDIS_URL asks for them.
  const Redis = require('ioredis');
  const { createAdapter } = require('@socket.io/redis-adapter');
  const pub = new Redis(url);
  const sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub));
  return { store: new RedisCallStore({ client: pub }), close: () => Promise.all([pub.quit(), sub.quit()]) };
}

function serveStatic(req, res) {
  const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const file = path.join(PUBLIC_DIR, urlPath === '/' ? 'index.html' : urlPath);
  // No escaping the public folder with `..`.
  if (!file.startsWith(PUBLIC_DIR + path.sep)) return void res.writeHead(403).end();
  fs.readFile(file, (error, body) => {
    if (error) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
    });
    res.end(body);
  });
}

async function main() {
  const config = loadConfig();
  await ensurePage();

  const server = http.createServer();
  const io = new Server(server, { serveClient: false });
  const redis = config.redisUrl ? useRedis(io, config.redisUrl) : null;

  const service = new CallService({
    store: redis ? redis.store : new MemoryCallStore(),
    announcedAddress: config.announcedIp,
    p2pParticipantLimit: config.p2pParticipantLimit,
    pool: {
      numWorkers: config.numWorkers,
      createWorker: opencall.createWorker,
      workerSettings: { logLevel: 'warn', rtcMinPort: config.rtcMinPort, rtcMaxPort: config.rtcMaxPort },
    },
    webRtcTransportOptions: {
      listenInfos: [
        { protocol: 'udp', ip: config.listenIp, announcedAddress: config.announcedIp },
        { protocol: 'tcp', ip: config.listenIp, announcedAddress: config.announcedIp },
      ],
      preferUdp: true,
    },
  });
  service.pool.on('workerdied', (pid, error) => console.error(`media worker ${pid} died: ${error.message}`));
  service.on('meeting:transition:completed', (e) =>
    debug('call %s: %s -> %s (%s) in %d ms', e.callId, e.from, e.to, e.trigger, e.durationMs),
  );
  service.on('meeting:transition:failed', (e) =>
    debug('call %s: %s -> %s failed: %s', e.callId, e.from, e.to, e.reason),
  );
  service.on('sfu:ice-restart', (e) => debug('call %s: %s restarts ICE on %s', e.callId, e.participantId, e.transportId));
  attachCallService(io, service);

  const metrics = createMetrics({ opencall, service, io });
  // What the page needs before joining: ICE servers for the P2P path.
  const clientConfig = JSON.stringify({
    iceServers: config.iceServers,
    p2pParticipantLimit: service.p2pParticipantLimit,
  });

  server.on('request', (req, res) => {
    if (req.url.startsWith('/socket.io/')) return; // Socket.IO's own handler answers.
    const route = req.url.split('?')[0];
    if (route === '/metrics') {
      metrics.render().then(
        (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
        (error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error)),
      );
    } else if (route === '/health') {
      const body = {
        status: 'ok',
        uptimeSeconds: Math.round(process.uptime()),
        nodeId: service.nodeId,
        calls: service.ownedCallIds.length,
        workers: service.pool.load,
        store: redis ? 'redis' : 'memory',
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else if (route === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' }).end(clientConfig);
    } else if (req.method === 'GET' || req.method === 'HEAD') {
      serveStatic(req, res);
    } else {
      res.writeHead(405).end();
    }
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const { port } = server.address();
  console.log(`opencall ${opencall.version} gateway: http://localhost:${port}`);
  console.log(
    `  media on ${config.listenIp} (announced ${config.announcedIp}), ports ${config.rtcMinPort}-${config.rtcMaxPort}, ` +
      `${service.pool.numWorkers} worker(s), P2P up to ${service.p2pParticipantLimit}, ${redis ? 'Redis' : 'in-memory'} store`,
  );

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    debug('%s: shutting down', signal);
    metrics.close();
    io.close();
    await service.close();
    await redis?.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
