/**
 * A remote participant as a UI sees it: its call state and one MediaStream
 * that stays the same object for the whole call. Whichever path (P2P link or
 * SFU consumer) carries its media, the tracks are swapped inside that stream,
 * so a <video> element bound to it once keeps playing across mode switches.
 */
import type { CallMode, ParticipantState } from './protocol';

export type TrackKind = 'audio' | 'video';

/** A remote track delivered by one media path. */
export interface TrackSource {
  /** The path that delivered it (a P2P mesh or an SFU session). */
  pathId: string;
  mode: CallMode;
  /** Stable id of this source: remote track id (P2P) or consumer id (SFU). */
  id: string;
  kind: TrackKind;
  track: MediaStreamTrack;
  receiver: RTCRtpReceiver;
  /** Set once the receiver decoded a frame (video) or received packets (audio). */
  flowing: boolean;
}

export class RemoteParticipant {
  /** Audio and video of this participant, whatever path carries them. */
  readonly stream = new MediaStream();
  private readonly rendered = new Map<TrackKind, TrackSource>();
  /** Sources per path id, per kind: the old and the new path during a switch. */
  readonly sources = new Map<string, Map<TrackKind, TrackSource>>();

  constructor(public state: ParticipantState) {}

  get id(): string {
    return this.state.id;
  }

  /** The source currently in `stream` for that kind, if any. */
  renderedSource(kind: TrackKind): TrackSource | undefined {
    return this.rendered.get(kind);
  }

  /** Which mode carries what this participant's UI shows (video first), or null. */
  get renderedMode(): CallMode | null {
    return (this.rendered.get('video') ?? this.rendered.get('audio'))?.mode ?? null;
  }

  /** @internal */
  addSource(source: TrackSource): void {
    let byKind = this.sources.get(source.pathId);
    if (!byKind) this.sources.set(source.pathId, (byKind = new Map()));
    byKind.set(source.kind, source);
  }

  /** @internal Forgets a source; returns true if it was the rendered one (now removed from the stream). */
  removeSource(source: TrackSource): boolean {
    const byKind = this.sources.get(source.pathId);
    if (byKind?.get(source.kind) === source) byKind.delete(source.kind);
    if (byKind?.size === 0) this.sources.delete(source.pathId);
    if (this.rendered.get(source.kind) !== source) return false;
    this.rendered.delete(source.kind);
    this.stream.removeTrack(source.track);
    return true;
  }

  /** @internal Forgets every source of one path (it closed). Returns the kinds that lost their rendered track. */
  removePath(pathId: string): TrackKind[] {
    const lost: TrackKind[] = [];
    for (const source of [...(this.sources.get(pathId)?.values() ?? [])]) {
      if (this.removeSource(source)) lost.push(source.kind);
    }
    this.sources.delete(pathId);
    return lost;
  }

  /** @internal Puts `source` in the stream in place of the current track of its kind. */
  render(source: TrackSource): boolean {
    const current = this.rendered.get(source.kind);
    if (current === source) return false;
    // Add before remove: the stream never goes without a track of that kind,
    // which would make a playing element drop to "no video" for a moment.
    this.stream.addTrack(source.track);
    if (current) this.stream.removeTrack(current.track);
    this.rendered.set(source.kind, source);
    return true;
  }

  /** @internal Ends the stream's tracks' membership (the participant left). */
  clear(): void {
    for (const source of this.rendered.values()) this.stream.removeTrack(source.track);
    this.rendered.clear();
    this.sources.clear();
  }
}
