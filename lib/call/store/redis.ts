import type { Redis } from 'ioredis';
import type { CallState, ChatMessage, NodeInfo } from '../types';
import type { CallStore } from './types';

export interface RedisCallStoreOptions {
  /** A connected ioredis client (shared with the app), or... */
  client?: Redis;
  /** ...a URL for a client this store creates and closes. */
  url?: string;
  /** Key prefix, so several deployments (or tests) can share one Redis. */
  prefix?: string;
}

/**
 * Compare-and-set of one call: writes only if the stored JSON is still the
 * one the caller read (empty string: absent), and keeps the index of calls in
 * step, in one atomic script.
 */
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
end
return 1
`;

const MAX_UPDATE_ATTEMPTS = 50;

/**
 * Calls in Redis, so that several gateway nodes agree on each call's mode,
 * participants and owner. Updates are optimistic (compare-and-set, retried),
 * which keeps every write a single round trip without locks that a dead node
 * could leave behind.
 */
export class RedisCallStore implements CallStore {
  private readonly redis: Redis;
  private readonly ownsClient: boolean;
  private readonly prefix: string;

  constructor(options: RedisCallStoreOptions) {
    if (options.client) {
      this.redis = options.client;
      this.ownsClient = false;
    } else if (options.url) {
      // Required lazily: only gateways that use Redis need ioredis installed.
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const IORedis = require('ioredis') as typeof import('ioredis').default;
      this.redis = new IORedis(options.url, { lazyConnect: false, maxRetriesPerRequest: 3 });
      this.ownsClient = true;
    } else {
      throw new TypeError('RedisCallStore needs a client or a url');
    }
    this.prefix = options.prefix ?? 'opencall:';
  }

  private key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  async get(callId: string): Promise<CallState | undefined> {
    return parse(await this.redis.get(this.key('call', callId)));
  }

  async update(
    callId: string,
    mutate: (current: CallState | undefined) => CallState | undefined,
  ): Promise<CallState | undefined> {
    const key = this.key('call', callId);
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const raw = (await this.redis.get(key)) ?? '';
      const next = mutate(raw ? (JSON.parse(raw) as CallState) : undefined);
      const nextRaw = next === undefined ? '' : JSON.stringify(next);
      if (nextRaw === raw) return next;
      const written = await this.redis.eval(COMPARE_AND_SET, 2, key, this.key('calls'), raw, nextRaw, callId);
      if (written === 1) return next;
    }
    throw new Error(`call ${callId}: too much contention on the store, update abandoned`);
  }

  async list(): Promise<CallState[]> {
    const ids = await this.redis.smembers(this.key('calls'));
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map((id) => this.key('call', id)));
    return values.map(parse).filter((c): c is CallState => c !== undefined);
  }

  async delete(callId: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.key('call', callId), this.key('chat', callId))
      .srem(this.key('calls'), callId)
      .exec();
  }

  async appendChat(callId: string, message: ChatMessage, maxHistory: number): Promise<void> {
    const key = this.key('chat', callId);
    await this.redis.multi().rpush(key, JSON.stringify(message)).ltrim(key, -maxHistory, -1).exec();
  }

  async chatHistory(callId: string): Promise<ChatMessage[]> {
    const raw = await this.redis.lrange(this.key('chat', callId), 0, -1);
    return raw.map((m) => JSON.parse(m) as ChatMessage);
  }

  async heartbeat(node: NodeInfo, ttlMs: number): Promise<void> {
    await this.redis
      .multi()
      .set(this.key('node', node.id), JSON.stringify(node), 'PX', ttlMs)
      .sadd(this.key('nodes'), node.id)
      .exec();
  }

  async liveNodes(): Promise<NodeInfo[]> {
    const ids = await this.redis.smembers(this.key('nodes'));
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map((id) => this.key('node', id)));
    const expired = ids.filter((_, i) => values[i] === null);
    // The node keys expire by themselves; the index is pruned lazily here.
    if (expired.length > 0) await this.redis.srem(this.key('nodes'), ...expired);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as NodeInfo);
  }

  async removeNode(nodeId: string): Promise<void> {
    await this.redis.multi().del(this.key('node', nodeId)).srem(this.key('nodes'), nodeId).exec();
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.redis.quit().catch(() => undefined);
  }
}

function parse(raw: string | null): CallState | undefined {
  return raw ? (JSON.parse(raw) as CallState) : undefined;
}
