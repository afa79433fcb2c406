// Video tiles: one per participant (the local one mirrored), plus one per
// screen share. A tile outlives stream swaps, so a P2P ↔ SFU switch only
// changes its srcObject and never flashes an empty grid.
import { byId, element } from './dom';
import type { MediaState } from './types';

export type TileSource = 'camera' | 'screen';

interface Tile {
  root: HTMLElement;
  video: HTMLVideoElement;
  caption: HTMLElement;
}

export class TileGrid {
  private readonly container = byId('tiles');
  private readonly tiles = new Map<string, Tile>();

  /** Creates or renames the camera tile of a participant. */
  upsert(participantId: string, displayName: string, opts: { local?: boolean } = {}): void {
    const tile = this.tile(participantId, 'camera', opts.local ?? false);
    tile.caption.firstChild!.textContent = opts.local ? `${displayName} (you)` : displayName;
    const screen = this.tiles.get(key(participantId, 'screen'));
    if (screen) screen.caption.firstChild!.textContent = `${displayName}'s screen`;
  }

  setMedia(participantId: string, media: MediaState): void {
    const tile = this.tiles.get(key(participantId, 'camera'));
    if (!tile) return;
    tile.root.dataset.audio = media.audio ? 'on' : 'off';
    tile.root.dataset.video = media.video ? 'on' : 'off';
    // A remote participant's shared screen arrives in its camera tile (the
    // client swaps it into the participant's stream): show it whole.
    tile.root.dataset.screen = media.screen ? 'on' : 'off';
  }

  /** Outlines the camera tile of whoever speaks (null: nobody). */
  setSpeaking(participantId: string | null): void {
    for (const [k, tile] of this.tiles) tile.root.classList.toggle('speaking', k === key(participantId ?? '', 'camera'));
  }

  /** Shows a stream (null: removes a screen tile, blanks a camera tile). */
  setStream(participantId: string, source: TileSource, stream: MediaStream | null, displayName = ''): void {
    if (source === 'screen' && !stream) {
      this.removeTile(key(participantId, 'screen'));
      return;
    }
    const tile = this.tile(participantId, source, false);
    if (source === 'screen') tile.caption.firstChild!.textContent = `${displayName}'s screen`;
    if (tile.video.srcObject !== stream) {
      tile.video.srcObject = stream;
      // Autoplay may be refused before a user gesture; muted video still plays.
      if (stream) tile.video.play().catch(() => undefined);
    }
  }

  remove(participantId: string): void {
    this.removeTile(key(participantId, 'camera'));
    this.removeTile(key(participantId, 'screen'));
  }

  clear(): void {
    for (const k of [...this.tiles.keys()]) this.removeTile(k);
  }

  private tile(participantId: string, source: TileSource, local: boolean): Tile {
    const k = key(participantId, source);
    const existing = this.tiles.get(k);
    if (existing) return existing;
    const root = element('figure', { className: `tile ${source}${local ? ' local' : ''}` });
    root.dataset.participant = participantId;
    root.dataset.source = source;
    const video = element('video');
    video.autoplay = true;
    video.playsInline = true;
    // The local preview must not play our own microphone back.
    video.muted = local;
    const caption = element('figcaption');
    caption.append(document.createTextNode(''), element('span', { className: 'muted-icon', text: 'muted' }));
    root.append(video, caption);
    this.container.append(root);
    const tile = { root, video, caption };
    this.tiles.set(k, tile);
    return tile;
  }

  private removeTile(k: string): void {
    const tile = this.tiles.get(k);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.root.remove();
    this.tiles.delete(k);
  }
}

const key = (participantId: string, source: TileSource): string => `${source}:${participantId}`;
