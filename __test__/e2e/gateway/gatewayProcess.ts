// One gateway process for the multi-gateway test: configured by environment,
// reports its URL and the call layer's transition events to the parent over
// the IPC channel, and exits on 'stop' (or when the parent goes away).
import { startCallGateway } from './callGateway';

export interface GatewayMessage {
  type: 'ready' | 'event' | 'call' | 'stopped' | 'error';
  url?: string;
  name?: string;
  payload?: unknown;
}

const send = (message: GatewayMessage): void => {
  process.send?.(message);
};

async function main(): Promise<void> {
  const gateway = await startCallGateway({
    nodeId: process.env.GATEWAY_NODE_ID,
    redisUrl: process.env.REDIS_URL,
    prefix: process.env.GATEWAY_PREFIX,
    hysteresisMs: Number(process.env.GATEWAY_HYSTERESIS_MS ?? 2_000),
    minTransitionIntervalMs: Number(process.env.GATEWAY_MIN_INTERVAL_MS ?? 2_000),
  });
  for (const name of ['meeting:transition:started', 'meeting:transition:completed', 'meeting:transition:failed'] as const) {
    gateway.service.on(name, (payload) => send({ type: 'event', name, payload }));
  }
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await gateway.close().catch((error) => send({ type: 'error', payload: String(error) }));
    send({ type: 'stopped' });
    process.disconnect?.();
    // Workers are threads of this process: exiting ends them too.
    process.exit(0);
  };
  process.on('message', (message: { type: string; callId?: string }) => {
    if (message?.type === 'stop') void stop();
    if (message?.type === 'getCall' && message.callId) {
      void gateway.service.getCall(message.callId).then((call) => send({ type: 'call', payload: call ?? null }));
    }
  });
  // The test runner died or dropped us: do not outlive it.
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  send({ type: 'ready', url: gateway.url });
}

main().catch((error) => {
  send({ type: 'error', payload: String(error?.stack ?? error) });
  process.exit(1);
});
