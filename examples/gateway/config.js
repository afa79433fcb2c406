// The gateway's settings, all from the environment, so that one container
// image runs anywhere. Bad values fail at start-up, not at the first call.
'use strict';

function integer(env, name, fallback, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function list(env, name) {
  return (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * ICE servers handed to browsers for the P2P path (the SFU path needs none:
 * the server's candidates are announced directly). `ICE_SERVERS` takes a
 * JSON array of RTCIceServer; the shorter TURN_* / STUN_URLS cover the usual case.
 */
function iceServers(env) {
  if (env.ICE_SERVERS?.trim()) {
    const parsed = JSON.parse(env.ICE_SERVERS);
    if (!Array.isArray(parsed)) throw new Error('ICE_SERVERS must be a JSON array of RTCIceServer objects');
    return parsed;
  }
  const servers = [];
  const stun = list(env, 'STUN_URLS');
  if (stun.length) servers.push({ urls: stun });
  const turn = list(env, 'TURN_URLS');
  if (turn.length) {
    servers.push({ urls: turn, username: env.TURN_USERNAME ?? '', credential: env.TURN_CREDENTIAL ?? '' });
  }
  return servers;
}

function loadConfig(env = process.env) {
  const listenIp = env.MEDIASOUP_LISTEN_IP?.trim() || '127.0.0.1';
  // Listening on a wildcard address needs a concrete address for browsers to reach.
  const wildcard = listenIp === '0.0.0.0' || listenIp === '::';
  const announcedIp = env.MEDIASOUP_ANNOUNCED_IP?.trim() || (wildcard ? '127.0.0.1' : listenIp);
  const rtcMinPort = integer(env, 'RTC_MIN_PORT', 40000, { min: 1, max: 65535 });
  const rtcMaxPort = integer(env, 'RTC_MAX_PORT', 49999, { min: 1, max: 65535 });
  if (rtcMinPort > rtcMaxPort) throw new Error('RTC_MIN_PORT must not exceed RTC_MAX_PORT');
  return {
    port: integer(env, 'PORT', 3000, { max: 65535 }),
    host: env.HOST?.trim() || undefined,
    listenIp,
    announcedIp,
    rtcMinPort,
    rtcMaxPort,
    // Left undefined so opencall/call reads MEDIASOUP_NUM_WORKERS / P2P_PARTICIPANT_LIMIT
    // itself (one worker per core, limit 2) and reports bad values in its own words.
    numWorkers: env.MEDIASOUP_NUM_WORKERS?.trim() ? integer(env, 'MEDIASOUP_NUM_WORKERS', 1, { min: 1 }) : undefined,
    p2pParticipantLimit: env.P2P_PARTICIPANT_LIMIT?.trim()
      ? integer(env, 'P2P_PARTICIPANT_LIMIT', 2, { min: 1 })
      : undefined,
    redisUrl: env.REDIS_URL?.trim() || undefined,
    iceServers: iceServers(env),
  };
}

module.exports = { loadConfig };
