// One joined call on the page: binds a HybridConnection (which carries the
// media over P2P or the SFU and switches between them) to the tiles, the
// indicator, the chat and the buttons. Nothing here depends on the mode:
// remote streams stay the same objects across switches, chat goes over
// Socket.IO either way.
import { HybridConnection, type RemoteParticipant, type TransitionInfo } from '../../../lib/client';
import type { ChatPanel } from './chat';
import type { ControlActions, Controls } from './controls';
import { byId } from './dom';
import type { ConnectionIndicator } from './indicator';
import { worstJitterMs } from './jitter';
import { openScreen, stopTracks } from './localMedia';
import type { TileGrid } from './tiles';
import type { GatewayConfig, QualityView } from './types';

/** The page's widgets: created once, reused by every call of the page's life. */
export interface CallUi {
  tiles: TileGrid;
  indicator: ConnectionIndicator;
  chat: ChatPanel;
  controls: Controls;
}

export interface CallOptions {
  ui: CallUi;
  room: string;
  displayName: string;
  localStream: MediaStream;
  config: GatewayConfig;
  /** Called once the call is over for this page (left, or the connection closed). */
  onEnded: (reason?: string) => void;
}

/**
 * The client's screen sharing: the track is sent in place of the camera (P2P)
 * or as a second producer (SFU), and the others see it in this participant's
 * stream, in place of the camera; null stops. It also updates `media.screen`.
 */
interface ScreenShareCapable {
  shareScreen(track: MediaStreamTrack | null): Promise<void>;
}

export class CallPage implements ControlActions {
  private readonly conn: HybridConnection;
  private readonly tiles: TileGrid;
  private readonly indicator: ConnectionIndicator;
  private readonly chat: ChatPanel;
  private readonly controls: Controls;
  /** Names of everyone seen in this call, kept after they leave for the chat's sake. */
  private readonly names = new Map<string, string>();
  private transition: TransitionInfo | null = null;
  private quality: QualityView = {};
  private screenTrack: MediaStreamTrack | null = null;
  private ended = false;
  private leaving = false;
  private lastError: string | null = null;

  constructor(private readonly options: CallOptions) {
    this.conn = new HybridConnection({
      url: location.origin,
      socketOptions: { transports: ['websocket'] },
      callId: options.room,
      displayName: options.displayName,
      localStream: options.localStream,
      media: {
        audio: options.localStream.getAudioTracks().length > 0,
        video: options.localStream.getVideoTracks().length > 0,
      },
      iceServers: options.config.iceServers,
    });
    ({ tiles: this.tiles, indicator: this.indicator, chat: this.chat, controls: this.controls } = options.ui);
    this.listen();
  }

  get selfId(): string | null {
    return this.conn.participantId;
  }

  nameOf(participantId: string): string {
    return this.names.get(participantId) ?? participantId.slice(0, 8);
  }

  async sendChat(text: string): Promise<void> {
    await this.conn.sendChat(text);
  }

  async setAudio(on: boolean): Promise<void> {
    await this.conn.setMedia({ audio: on });
    this.tiles.setMedia(this.conn.participantId!, this.localMedia());
  }

  async setVideo(on: boolean): Promise<void> {
    await this.conn.setMedia({ video: on });
    this.tiles.setMedia(this.conn.participantId!, this.localMedia());
  }

  async join(): Promise<void> {
    const response = await this.conn.join();
    const selfId = response.participantId;
    this.names.set(selfId, this.options.displayName);
    byId('room-name').textContent = this.options.room;
    this.controls.reset();
    this.controls.set('toggle-audio', this.options.localStream.getAudioTracks().length > 0);
    this.controls.set('toggle-video', this.options.localStream.getVideoTracks().length > 0);
    byId<HTMLButtonElement>('toggle-screen').disabled = !this.screenShare();
    byId<HTMLButtonElement>('toggle-screen').title = this.screenShare() ? '' : 'screen sharing is not available';

    this.tiles.upsert(selfId, this.options.displayName, { local: true });
    this.tiles.setStream(selfId, 'camera', this.options.localStream);
    this.tiles.setMedia(selfId, this.localMedia());
    for (const participant of this.conn.participants.values()) this.showParticipant(participant);
    for (const message of response.chatHistory) this.chat.add(message);
    this.refreshIndicator();
  }

  private listen(): void {
    const c = this.conn;
    c.on('participantjoined', (p) => {
      this.showParticipant(p);
      this.chat.notice(`${this.names.get(p.id)} joined`);
      this.refreshIndicator();
    });
    c.on('participantupdated', (p) => this.showParticipant(p));
    c.on('participantleft', (id) => {
      this.tiles.remove(id);
      this.chat.notice(`${this.names.get(id) ?? id} left`);
      this.refreshIndicator();
    });
    c.on('remotestream', (id, stream) => this.tiles.setStream(id, 'camera', stream));
    c.on('transitionstart', (info) => {
      this.transition = info;
      this.refreshIndicator();
    });
    c.on('transitionend', (result) => {
      this.transition = null;
      if (!result.success) this.chat.notice(`switch to ${result.to.toUpperCase()} failed: ${result.reason ?? 'unknown'}`);
      this.refreshIndicator();
    });
    c.on('modechange', () => this.refreshIndicator());
    c.on('quality', (sample) => {
      this.quality = { ...this.quality, ...sample };
      this.indicator.setQuality(this.quality);
      void worstJitterMs(this.conn.participants.values()).then((jitterMs) => {
        this.quality = { ...this.quality, jitterMs };
        this.indicator.setQuality(this.quality);
      });
    });
    c.on('chat', (message) => this.chat.add(message));
    c.on('activespeaker', (id) => this.tiles.setSpeaking(id));
    c.on('reconnecting', () => this.chat.notice('connection to the server lost: reconnecting (the call goes on)'));
    c.on('reconnected', ({ seatKept }) => this.chat.notice(seatKept ? 'reconnected' : 'reconnected: the call was rejoined'));
    c.on('error', (error) => {
      this.lastError = error.message;
      this.chat.notice(error.message);
    });
    // Also emitted by our own leave(); only an unasked close is worth a message.
    c.on('closed', () => this.end(this.leaving ? undefined : (this.lastError ?? 'the call ended')));
  }

  private showParticipant(p: RemoteParticipant): void {
    const name = p.state.displayName || p.id.slice(0, 8);
    this.names.set(p.id, name);
    this.tiles.upsert(p.id, name);
    this.tiles.setMedia(p.id, p.state.media);
    // The participant's stream is one object for the whole call; binding it
    // now means its first track plays as soon as any path delivers it.
    this.tiles.setStream(p.id, 'camera', p.stream);
  }

  private refreshIndicator(): void {
    this.indicator.setMode(this.conn.mode, this.transition?.to ?? null);
    this.indicator.setParticipantCount(this.conn.participants.size + 1);
  }

  private localMedia() {
    const on = (tracks: MediaStreamTrack[]) => tracks.some((t) => t.enabled);
    return {
      audio: on(this.options.localStream.getAudioTracks()),
      video: on(this.options.localStream.getVideoTracks()),
      screen: this.screenTrack !== null,
    };
  }

  private screenShare(): ScreenShareCapable | null {
    const candidate = this.conn as unknown as Partial<ScreenShareCapable>;
    return typeof candidate.shareScreen === 'function' ? (candidate as ScreenShareCapable) : null;
  }

  async setScreen(on: boolean): Promise<void> {
    const share = this.screenShare();
    if (!share) throw new Error('screen sharing is not available');
    const selfId = this.conn.participantId!;
    if (on) {
      const track = await openScreen();
      // The browser's own "Stop sharing" button ends the track.
      track.addEventListener('ended', () => {
        if (this.screenTrack === track) void this.setScreen(false).then(() => this.controls.set('toggle-screen', false));
      });
      await share.shareScreen(track);
      this.screenTrack = track;
      this.tiles.setStream(selfId, 'screen', new MediaStream([track]), this.options.displayName);
    } else {
      await share.shareScreen(null);
      this.screenTrack?.stop();
      this.screenTrack = null;
      this.tiles.setStream(selfId, 'screen', null);
    }
    // shareScreen() told the others (media.screen): their tile of us now shows the screen.
  }

  async leave(): Promise<void> {
    this.leaving = true;
    await this.conn.leave();
    this.end();
  }

  private end(reason?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.conn.removeAllListeners();
    this.screenTrack?.stop();
    stopTracks(this.options.localStream);
    this.tiles.clear();
    this.chat.clear();
    this.options.onEnded(reason);
  }
}
