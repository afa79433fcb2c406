// The call page: a lobby (name, room), then one call at a time. The widgets
// live for the page's whole life; each join makes a new CallPage over them.
import { CallPage, type CallUi } from './call';
import { ChatPanel } from './chat';
import { Controls } from './controls';
import { byId } from './dom';
import { ConnectionIndicator } from './indicator';
import { Lobby, type JoinRequest } from './lobby';
import { openLocalMedia, stopTracks } from './localMedia';
import { TileGrid } from './tiles';
import type { GatewayConfig } from './types';

let call: CallPage | null = null;

function current(): CallPage {
  if (!call) throw new Error('not in a call');
  return call;
}

const chat = new ChatPanel(
  (text) => current().sendChat(text),
  (id) => call?.nameOf(id) ?? id,
  () => call?.selfId ?? null,
);
const ui: CallUi = {
  tiles: new TileGrid(),
  indicator: new ConnectionIndicator(),
  chat,
  controls: new Controls(
    {
      setAudio: (on) => current().setAudio(on),
      setVideo: (on) => current().setVideo(on),
      setScreen: (on) => current().setScreen(on),
      leave: () => current().leave(),
    },
    (message) => chat.notice(message),
  ),
};
const lobby = new Lobby(join);
const callView = byId('call');

async function join(request: JoinRequest): Promise<void> {
  const config = (await (await fetch('/config.json')).json()) as GatewayConfig;
  const localStream = await openLocalMedia();
  const page = new CallPage({
    ui,
    ...request,
    localStream,
    config,
    onEnded: (reason) => {
      if (call === page) call = null;
      callView.hidden = true;
      lobby.show(reason);
    },
  });
  call = page;
  // Shown before the join completes, so the user sees the call being set up.
  lobby.hide();
  callView.hidden = false;
  ui.indicator.setMode(null, null);
  try {
    await page.join();
  } catch (error) {
    call = null;
    stopTracks(localStream);
    callView.hidden = true;
    throw error;
  }
}

// Leaving the page leaves the call at once instead of waiting for the socket to time out.
addEventListener('pagehide', () => void call?.leave());
