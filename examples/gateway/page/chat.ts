// The chat panel. Messages travel over Socket.IO and live with the call on
// the server, so they are untouched by P2P ↔ SFU switches; the panel only
// renders them once each (history and live events may overlap).
import { byId, element } from './dom';
import type { ChatMessageView } from './types';

export class ChatPanel {
  private readonly log = byId<HTMLOListElement>('chat-log');
  private readonly form = byId<HTMLFormElement>('chat-form');
  private readonly input = byId<HTMLInputElement>('chat-input');
  private readonly seen = new Set<string>();

  constructor(
    private readonly send: (text: string) => Promise<void>,
    private readonly nameOf: (participantId: string) => string,
    private readonly selfId: () => string | null,
  ) {
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = this.input.value.trim();
      if (!text) return;
      this.input.value = '';
      this.send(text).catch((error: unknown) => this.notice(`not sent: ${String(error)}`));
    });
  }

  add(message: ChatMessageView): void {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    const item = element('li');
    item.dataset.messageId = message.id;
    if (message.participantId === this.selfId()) item.classList.add('self');
    item.title = new Date(message.sentAt).toLocaleTimeString();
    item.append(element('span', { className: 'author', text: this.nameOf(message.participantId) }));
    item.append(element('span', { className: 'text', text: message.text }));
    this.log.append(item);
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** A line from the page itself (join, leave, errors), not from a participant. */
  notice(text: string): void {
    this.log.append(element('li', { className: 'muted', text }));
    this.log.scrollTop = this.log.scrollHeight;
  }

  clear(): void {
    this.log.replaceChildren();
    this.seen.clear();
  }
}
