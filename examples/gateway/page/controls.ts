// The call's buttons. Each toggle shows the state the user is in (pressed =
// on) and is disabled while its action runs, so double clicks cannot race.
import { byId } from './dom';

export interface ControlActions {
  setAudio(on: boolean): Promise<void>;
  setVideo(on: boolean): Promise<void>;
  setScreen(on: boolean): Promise<void>;
  leave(): Promise<void>;
}

const LABELS = {
  'toggle-audio': ['Unmute', 'Mute'],
  'toggle-video': ['Start video', 'Stop video'],
  'toggle-screen': ['Share screen', 'Stop sharing'],
} as const;

type ToggleId = keyof typeof LABELS;

export class Controls {
  constructor(
    private readonly actions: ControlActions,
    private readonly onError: (message: string) => void,
  ) {
    this.toggle('toggle-audio', (on) => actions.setAudio(on));
    this.toggle('toggle-video', (on) => actions.setVideo(on));
    this.toggle('toggle-screen', (on) => actions.setScreen(on));
    byId('leave').addEventListener('click', () => void actions.leave());
  }

  /** Reflects a state that changed elsewhere (e.g. the browser's "Stop sharing" bar). */
  set(id: ToggleId, on: boolean): void {
    const button = byId<HTMLButtonElement>(id);
    button.setAttribute('aria-pressed', String(on));
    button.textContent = LABELS[id][on ? 1 : 0];
  }

  reset(): void {
    this.set('toggle-audio', true);
    this.set('toggle-video', true);
    this.set('toggle-screen', false);
  }

  private toggle(id: ToggleId, run: (on: boolean) => Promise<void>): void {
    const button = byId<HTMLButtonElement>(id);
    button.addEventListener('click', () => {
      const on = button.getAttribute('aria-pressed') !== 'true';
      button.disabled = true;
      run(on)
        .then(() => this.set(id, on))
        .catch((error: unknown) => this.onError(error instanceof Error ? error.message : String(error)))
        .finally(() => (button.disabled = false));
    });
  }
}
