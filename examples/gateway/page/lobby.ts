// The join form. The room comes from `?room=` (so a link can be shared) and
// the name is remembered on this browser.
import { byId } from './dom';

const NAME_KEY = 'opencall.displayName';

export interface JoinRequest {
  displayName: string;
  room: string;
}

export class Lobby {
  private readonly root = byId('lobby');
  private readonly form = byId<HTMLFormElement>('join-form');
  private readonly name = byId<HTMLInputElement>('name');
  private readonly room = byId<HTMLInputElement>('room');
  private readonly button = byId<HTMLButtonElement>('join');
  private readonly error = byId('lobby-error');

  constructor(onJoin: (request: JoinRequest) => Promise<void>) {
    this.name.value = localStorage.getItem(NAME_KEY) ?? '';
    this.room.value = new URLSearchParams(location.search).get('room') ?? '';
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const request = { displayName: this.name.value.trim(), room: this.room.value.trim() };
      if (!request.displayName || !request.room) return;
      localStorage.setItem(NAME_KEY, request.displayName);
      const url = new URL(location.href);
      url.searchParams.set('room', request.room);
      history.replaceState(null, '', url);
      this.button.disabled = true;
      this.error.hidden = true;
      onJoin(request)
        .catch((error: unknown) => this.show(error instanceof Error ? error.message : String(error)))
        .finally(() => (this.button.disabled = false));
    });
  }

  show(error?: string): void {
    this.root.hidden = false;
    this.error.hidden = !error;
    this.error.textContent = error ?? '';
  }

  hide(): void {
    this.root.hidden = true;
  }
}
