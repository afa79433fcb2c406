/**
 * The native addon, as napi-rs generated it (`index.js` / `index.d.ts` at
 * the package root). Only `Channel` and `ortc` talk to it.
 */
import { errorFromNative } from './errors';

export interface NativeWorkerHandle {
  readonly pid: number;
  request(method: string, handlerId: string, dataJson: string): Promise<string>;
  close(): void;
}

interface NativeBinding {
  NativeWorker: new (settingsJson: string, onEvents: (batch: string) => void) => NativeWorkerHandle;
  ortcCall(name: string, argsJson: string): string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const binding: NativeBinding = require('../index.js');

type Envelope = { ok?: unknown; error?: { kind: string; message: string } };

/** Decodes a native answer: the value, or a throw of mediasoup's error class. */
export function unwrap(text: string): any {
  const envelope = JSON.parse(text) as Envelope;
  if (envelope.error) {
    throw errorFromNative(envelope.error.kind, envelope.error.message);
  }
  return envelope.ok;
}

/** Runs a native call that may throw an encoded error synchronously. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    const message = (error as Error)?.message;
    if (typeof message === 'string' && message.startsWith('{"error"')) {
      unwrap(message);
    }
    throw error;
  }
}

export function ortcCall(name: string, args: unknown): any {
  return unwrap(binding.ortcCall(name, JSON.stringify(args ?? null)));
}
