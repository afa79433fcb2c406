import type { CallState, ChatMessage, NodeInfo } from '../types';

/**
 * Where calls live, so that every gateway node sharing the store agrees on a
 * call's mode, participants and owner. Implementations copy values in and
 * out: a caller never holds a reference into the store.
 */
export interface CallStore {
  get(callId: string): Promise<CallState | undefined>;

  /**
   * Atomic read-modify-write. `mutate` sees the current value (or undefined)
   * and returns the new one, or undefined to delete. It may run more than once
   * (optimistic concurrency), so it must be pure. Returns the stored result.
   */
  update(
    callId: string,
    mutate: (current: CallState | undefined) => CallState | undefined,
  ): Promise<CallState | undefined>;

  list(): Promise<CallState[]>;

  /** Deletes the call and its chat history. */
  delete(callId: string): Promise<void>;

  /** Appends to the call's chat, keeping only the newest `maxHistory` messages. */
  appendChat(callId: string, message: ChatMessage, maxHistory: number): Promise<void>;
  chatHistory(callId: string): Promise<ChatMessage[]>;

  /** Registers `node` as alive for `ttlMs`. */
  heartbeat(node: NodeInfo, ttlMs: number): Promise<void>;
  /** Nodes whose last heartbeat has not expired. */
  liveNodes(): Promise<NodeInfo[]>;
  /** Removes a node at once (clean shutdown), so others can take over its calls. */
  removeNode(nodeId: string): Promise<void>;

  close(): Promise<void>;
}
