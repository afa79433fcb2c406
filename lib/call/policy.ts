import { CallError } from './errors';
import type { CallMode, ConversationType } from './types';

/** Largest group that stays peer-to-peer unless configured otherwise. */
export const DEFAULT_P2P_PARTICIPANT_LIMIT = 2;

export const CONVERSATION_TYPES: readonly ConversationType[] = ['direct', 'group'];

export interface ModePolicyOptions {
  /** Largest participant count a `group` call keeps in P2P. */
  p2pParticipantLimit?: number;
}

export function isConversationType(value: unknown): value is ConversationType {
  return typeof value === 'string' && (CONVERSATION_TYPES as readonly string[]).includes(value);
}

export function assertConversationType(value: unknown): asserts value is ConversationType {
  if (!isConversationType(value)) {
    throw new CallError(
      'UNSUPPORTED_CONVERSATION_TYPE',
      `unsupported conversation type ${JSON.stringify(value)} (expected one of: ${CONVERSATION_TYPES.join(', ')})`,
    );
  }
}

function assertLimit(limit: number, origin: string): number {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new TypeError(`${origin} must be an integer >= 1, got ${JSON.stringify(limit)}`);
  }
  return limit;
}

/**
 * The P2P limit in force: an explicit option wins, then `P2P_PARTICIPANT_LIMIT`
 * from the environment, then the default. A malformed environment value is an
 * error rather than silently ignored: a typo there would otherwise change how
 * every call is carried.
 */
export function resolveP2pParticipantLimit(
  option?: number,
  env: NodeJS.ProcessEnv = process.env,
): number {
  if (option !== undefined) return assertLimit(option, 'p2pParticipantLimit');
  const raw = env.P2P_PARTICIPANT_LIMIT;
  if (raw !== undefined && raw.trim() !== '') {
    return assertLimit(Number(raw), 'P2P_PARTICIPANT_LIMIT');
  }
  return DEFAULT_P2P_PARTICIPANT_LIMIT;
}

/**
 * The mode a call should be in for a given number of active participants.
 * Pure: timing rules (hysteresis, minimum interval, quality) are applied by
 * `CallService` on top of this answer.
 */
export function determineCallMode(
  conversationType: ConversationType,
  activeCount: number,
  options: ModePolicyOptions = {},
): CallMode {
  assertConversationType(conversationType);
  if (!Number.isInteger(activeCount) || activeCount < 0) {
    throw new TypeError(`activeCount must be a non-negative integer, got ${JSON.stringify(activeCount)}`);
  }
  if (conversationType === 'direct') return 'p2p';
  const limit = assertLimit(
    options.p2pParticipantLimit ?? DEFAULT_P2P_PARTICIPANT_LIMIT,
    'p2pParticipantLimit',
  );
  return activeCount <= limit ? 'p2p' : 'sfu';
}
