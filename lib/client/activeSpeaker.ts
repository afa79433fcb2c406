/**
 * Who is speaking, from the audio levels the browser reports for each remote
 * participant's rendered audio (`RTCRtpReceiver.getSynchronizationSources()`:
 * 0..1, linear, 1 = 0 dBov). The same on both paths, and no work for the
 * server. Levels are smoothed across samples; whoever still speaks keeps the
 * floor unless another is clearly louder, so the highlight does not flicker
 * between two people talking over each other.
 */
export interface ActiveSpeakerOptions {
  /** Below this smoothed level nobody is speaking (default 0.02, about -34 dBov). */
  threshold?: number;
  /** How much louder another participant must be to take the floor (default 1.5×). */
  takeover?: number;
  /** Weight of the newest sample (default 0.5). */
  smoothing?: number;
}

export class ActiveSpeakerDetector {
  private readonly smoothed = new Map<string, number>();
  private current: string | null = null;
  private readonly threshold: number;
  private readonly takeover: number;
  private readonly smoothing: number;

  constructor(options: ActiveSpeakerOptions = {}) {
    this.threshold = options.threshold ?? 0.02;
    this.takeover = options.takeover ?? 1.5;
    this.smoothing = options.smoothing ?? 0.5;
  }

  get speaker(): string | null {
    return this.current;
  }

  /**
   * One sample of every remote participant's level (absent: silent, or
   * gone). Returns the new speaker (null: nobody) when it changed, else
   * undefined.
   */
  update(levels: ReadonlyMap<string, number>): string | null | undefined {
    for (const id of this.smoothed.keys()) if (!levels.has(id)) this.smoothed.delete(id);
    for (const [id, level] of levels) {
      const previous = this.smoothed.get(id) ?? 0;
      this.smoothed.set(id, this.smoothing * level + (1 - this.smoothing) * previous);
    }
    let loudest: string | null = null;
    let loudestLevel = this.threshold;
    for (const [id, level] of this.smoothed) {
      if (level > loudestLevel) [loudest, loudestLevel] = [id, level];
    }
    const currentLevel = this.current === null ? 0 : (this.smoothed.get(this.current) ?? 0);
    let next = this.current;
    if (currentLevel <= this.threshold) next = loudest;
    else if (loudest !== null && loudest !== this.current && loudestLevel >= currentLevel * this.takeover) next = loudest;
    if (next === this.current) return undefined;
    this.current = next;
    return next;
  }
}
