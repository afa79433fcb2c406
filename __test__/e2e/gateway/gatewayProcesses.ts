// Starts gateway processes (gatewayProcess.ts through run.js) from a test and
// stops them: each gets its own node id and reports its URL and the call
// layer's transition events over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { GatewayMessage } from './gatewayProcess';

export interface GatewayProcessOptions {
  nodeId: string;
  redisUrl: string;
  prefix: string;
  hysteresisMs?: number;
  minTransitionIntervalMs?: number;
}

export class GatewayProcess {
  readonly events: { name: string; payload: any }[] = [];
  readonly output: string[] = [];

  private constructor(
    readonly nodeId: string,
    readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static start(options: GatewayProcessOptions): Promise<GatewayProcess> {
    const child = fork(path.join(__dirname, 'run.js'), ['gatewayProcess.ts'], {
      env: {
        ...process.env,
        REDIS_URL: options.redisUrl,
        GATEWAY_NODE_ID: options.nodeId,
        GATEWAY_PREFIX: options.prefix,
        GATEWAY_HYSTERESIS_MS: String(options.hysteresisMs ?? 2_000),
        GATEWAY_MIN_INTERVAL_MS: String(options.minTransitionIntervalMs ?? 2_000),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const output: string[] = [];
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`gateway ${options.nodeId} did not start:\n${output.join('')}`));
      }, 20_000);
      let gateway: GatewayProcess | null = null;
      child.on('message', (m: GatewayMessage) => {
        if (m.type === 'ready' && m.url) {
          clearTimeout(timer);
          gateway = new GatewayProcess(options.nodeId, child, m.url);
          gateway.output.push(...output);
          resolve(gateway);
        } else if (m.type === 'event' && gateway) {
          gateway.events.push({ name: m.name!, payload: m.payload });
        } else if (m.type === 'error') {
          output.push(String(m.payload));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (!gateway) reject(new Error(`gateway ${options.nodeId} exited with ${code}:\n${output.join('')}`));
      });
    });
  }

  /** The call as this node sees it (from the shared store). */
  getCall(callId: string): Promise<any> {
    return new Promise((resolve) => {
      const onMessage = (m: GatewayMessage): void => {
        if (m.type !== 'call') return;
        this.child.off('message', onMessage);
        resolve(m.payload);
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'getCall', callId });
    });
  }

  /** Asks the process to close its service, sockets and Redis clients; kills it if it does not exit in time. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.send({ type: 'stop' });
    else this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
