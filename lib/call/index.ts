/**
 * opencall/call: the server half of the call layer. Calls move between P2P
 * and SFU on their own; plug `attachCallService` into an existing Socket.IO
 * server. The wire protocol is documented in the README ("The call layer").
 */
export {
  CallService,
  DEFAULT_HYSTERESIS_MS,
  DEFAULT_MIN_TRANSITION_INTERVAL_MS,
  DEFAULT_TRANSITION_TIMEOUT_MS,
  DEFAULT_MESH_LIMIT,
  DEFAULT_CHAT_HISTORY_LIMIT,
  DEFAULT_NODE_TTL_MS,
  type CallServiceOptions,
  type CallServiceEvents,
  type CallSignal,
  type JoinOptions,
  type JoinResult,
  type TransitionEvent,
} from './CallService';
export {
  determineCallMode,
  resolveP2pParticipantLimit,
  isConversationType,
  DEFAULT_P2P_PARTICIPANT_LIMIT,
  CONVERSATION_TYPES,
  type ModePolicyOptions,
} from './policy';
export {
  QualityMonitor,
  assessSample,
  DEFAULT_QUALITY_THRESHOLDS,
  DEFAULT_QUALITY_WINDOW_MS,
  DEFAULT_QUALITY_MIN_SAMPLES,
  type QualityOptions,
  type QualityThresholds,
  type QualityProblem,
  type QualityVerdict,
} from './quality';
export {
  MediaServerPool,
  resolveNumWorkers,
  resolveMaxParticipantsPerRouter,
  DEFAULT_MAX_PARTICIPANTS_PER_ROUTER,
  type MediaServerPoolOptions, type MediaServerPoolEvents } from './pool';
export {
  defaultWorkerFactory,
  DEFAULT_MEDIA_CODECS,
  type MediaWorker,
  type MediaWorkerFactory,
  type MediaRouter,
  type MediaWebRtcTransport,
  type MediaProducer,
  type MediaConsumer,
} from './media';
export type { ProducerInfo, TransportInfo, ConsumerInfo } from './sfu';
export type { CallStore } from './store/types';
export { MemoryCallStore } from './store/memory';
export { RedisCallStore, type RedisCallStoreOptions } from './store/redis';
export { attachCallService, type AttachCallServiceOptions, type CallBinding } from './socket';
export { CallError, NotCallOwnerError, MediaCapacityError, type CallErrorCode } from './errors';
export type * from './types';
