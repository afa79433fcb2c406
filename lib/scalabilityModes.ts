/**
 * Scalability modes (webrtc-svc): 'L<spatial>T<temporal>' for SVC,
 * 'S<spatial>T<temporal>' for simulcast-like independent layers, with a
 * '_KEY' suffix for K-SVC (spatial layers depend on each other only on
 * keyframes).
 */

export type ScalabilityMode = {
  spatialLayers: number;
  temporalLayers: number;
  ksvc: boolean;
};

// Layer counts run from 1 to 99. Only the prefix is checked: browsers append
// variants such as 'h' (L2T3h), which do not change the layer counts.
const MODE_PREFIX = /^[LS]([1-9][0-9]?)T([1-9][0-9]?)(_KEY)?/;

/**
 * Reads the layer structure from a scalability mode string. Anything absent
 * or unparseable means one spatial and one temporal layer, as mediasoup
 * treats it, so callers never have to handle a failure.
 */
export function parseScalabilityMode(mode?: string): ScalabilityMode {
  const match = typeof mode === 'string' ? MODE_PREFIX.exec(mode) : null;

  if (!match) {
    return { spatialLayers: 1, temporalLayers: 1, ksvc: false };
  }

  return {
    spatialLayers: Number.parseInt(match[1], 10),
    temporalLayers: Number.parseInt(match[2], 10),
    ksvc: match[3] !== undefined,
  };
}
