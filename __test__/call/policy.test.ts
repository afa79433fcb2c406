import {
  determineCallMode,
  resolveP2pParticipantLimit,
  DEFAULT_P2P_PARTICIPANT_LIMIT,
} from '../../lib/call/policy';
import { CallError } from '../../lib/call/errors';

describe('determineCallMode', () => {
  test('a direct conversation is P2P whatever the count', () => {
    for (const count of [0, 1, 2, 3, 10]) expect(determineCallMode('direct', count)).toBe('p2p');
    expect(determineCallMode('direct', 5, { p2pParticipantLimit: 1 })).toBe('p2p');
  });

  test('a group is P2P up to the default limit of 2, SFU above', () => {
    expect(DEFAULT_P2P_PARTICIPANT_LIMIT).toBe(2);
    expect(determineCallMode('group', 1)).toBe('p2p');
    expect(determineCallMode('group', 2)).toBe('p2p');
    expect(determineCallMode('group', 3)).toBe('sfu');
  });

  test('the limit is configurable', () => {
    expect(determineCallMode('group', 4, { p2pParticipantLimit: 4 })).toBe('p2p');
    expect(determineCallMode('group', 5, { p2pParticipantLimit: 4 })).toBe('sfu');
    expect(determineCallMode('group', 2, { p2pParticipantLimit: 1 })).toBe('sfu');
  });

  test('other conversation types are rejected with a clear error', () => {
    expect(() => determineCallMode('channel' as never, 2)).toThrow(CallError);
    expect(() => determineCallMode('channel' as never, 2)).toThrow(
      /unsupported conversation type "channel" \(expected one of: direct, group\)/,
    );
    try {
      determineCallMode('broadcast' as never, 1);
    } catch (error) {
      expect((error as CallError).code).toBe('UNSUPPORTED_CONVERSATION_TYPE');
    }
  });

  test('bad counts and limits are TypeErrors', () => {
    expect(() => determineCallMode('group', -1)).toThrow(TypeError);
    expect(() => determineCallMode('group', 1.5)).toThrow(TypeError);
    expect(() => determineCallMode('group', 1, { p2pParticipantLimit: 0 })).toThrow(TypeError);
  });
});

describe('resolveP2pParticipantLimit', () => {
  test('option wins over P2P_PARTICIPANT_LIMIT, which wins over the default', () => {
    expect(resolveP2pParticipantLimit(undefined, {})).toBe(2);
    expect(resolveP2pParticipantLimit(undefined, { P2P_PARTICIPANT_LIMIT: '3' })).toBe(3);
    expect(resolveP2pParticipantLimit(5, { P2P_PARTICIPANT_LIMIT: '3' })).toBe(5);
  });

  test('a malformed environment value is an error, not silently ignored', () => {
    expect(() => resolveP2pParticipantLimit(undefined, { P2P_PARTICIPANT_LIMIT: 'three' })).toThrow(
      /P2P_PARTICIPANT_LIMIT/,
    );
  });
});
