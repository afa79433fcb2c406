/**
 * opencall/client: the browser side of the call layer. One `HybridConnection`
 * per call; it carries media over P2P or the SFU as the server decides and
 * switches between them without interrupting playback.
 */
export {
  HybridConnection,
  type HybridConnectionOptions,
  type HybridConnectionEvents,
  type TransitionInfo,
  type TransitionResult,
  type RemoteMediaStats,
} from './HybridConnection';
export { RemoteParticipant, type TrackKind, type TrackSource } from './remoteParticipant';
export { P2PMesh, type P2PMeshOptions, type P2PMeshEvents, type P2PSignal } from './p2pMesh';
export { SfuSession, type SfuSessionOptions, type SfuSessionEvents } from './sfuSession';
export { QualitySampler, type StatsSource } from './qualitySampler';
export { Emitter, type EventMap } from './emitter';
export { CallRequestError } from './protocol';
export type * from './protocol';
