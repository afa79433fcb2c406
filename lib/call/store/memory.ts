import type { CallState, ChatMessage, NodeInfo } from '../types';
import type { CallStore } from './types';

const copy = <T>(value: T): T => structuredClone(value);

/**
 * The default store: one process, no persistence. Also shareable between
 * several `CallService` instances in one process (tests of multi-node logic).
 */
export class MemoryCallStore implements CallStore {
  private readonly calls = new Map<string, CallState>();
  private readonly chats = new Map<string, ChatMessage[]>();
  private readonly nodes = new Map<string, { node: NodeInfo; expiresAt: number }>();

  async get(callId: string): Promise<CallState | undefined> {
    const call = this.calls.get(callId);
    return call && copy(call);
  }

  async update(
    callId: string,
    mutate: (current: CallState | undefined) => CallState | undefined,
  ): Promise<CallState | undefined> {
    // Synchronous from read to write: nothing can interleave.
    const next = mutate(this.calls.has(callId) ? copy(this.calls.get(callId)!) : undefined);
    if (next === undefined) this.calls.delete(callId);
    else this.calls.set(callId, copy(next));
    return next && copy(next);
  }

  async list(): Promise<CallState[]> {
    return [...this.calls.values()].map(copy);
  }

  async delete(callId: string): Promise<void> {
    this.calls.delete(callId);
    this.chats.delete(callId);
  }

  async appendChat(callId: string, message: ChatMessage, maxHistory: number): Promise<void> {
    const chat = this.chats.get(callId) ?? [];
    chat.push(copy(message));
    if (chat.length > maxHistory) chat.splice(0, chat.length - maxHistory);
    this.chats.set(callId, chat);
  }

  async chatHistory(callId: string): Promise<ChatMessage[]> {
    return copy(this.chats.get(callId) ?? []);
  }

  async heartbeat(node: NodeInfo, ttlMs: number): Promise<void> {
    this.nodes.set(node.id, { node: copy(node), expiresAt: Date.now() + ttlMs });
  }

  async liveNodes(): Promise<NodeInfo[]> {
    const now = Date.now();
    return [...this.nodes.values()].filter((n) => n.expiresAt > now).map((n) => copy(n.node));
  }

  async removeNode(nodeId: string): Promise<void> {
    this.nodes.delete(nodeId);
  }

  async close(): Promise<void> {
    // Nothing to release; kept for the interface.
  }
}
