/**
 * Everything a gateway reaches as `mediasoup.types.X`: the option, event and
 * stat types, the object interfaces (`types.Worker`, `types.Router`, ...),
 * `AppData`, and the error classes.
 *
 * The union of what 3.14 and 3.27 exposed here, minus their internal
 * serialization helpers, so annotations written for either version resolve.
 */

export type * from './indexTypes';
export type * from './WorkerTypes';
export type * from './WebRtcServerTypes';
export type * from './RouterTypes';
export type * from './TransportTypes';
export type * from './WebRtcTransportTypes';
export type * from './PlainTransportTypes';
export type * from './PipeTransportTypes';
export type * from './DirectTransportTypes';
export type * from './ProducerTypes';
export type * from './ConsumerTypes';
export type * from './DataProducerTypes';
export type * from './DataConsumerTypes';
export type * from './RtpObserverTypes';
export type * from './ActiveSpeakerObserverTypes';
export type * from './AudioLevelObserverTypes';
export type * from './RtpParameters';
export type * from './SctpParameters';
export type * from './SrtpParameters';
export type { ScalabilityMode } from './scalabilityModes';

// Values, not only types: 3.14 code tests `err instanceof types.UnsupportedError`.
export { InvalidStateError, UnsupportedError } from './errors';
