/**
 * Errors of the call layer. Each carries a stable `code`, because these
 * errors cross the wire (Socket.IO acknowledgements, forwarding between
 * gateway nodes) where class identity is lost but the code survives.
 */

export type CallErrorCode =
  | 'UNSUPPORTED_CONVERSATION_TYPE'
  | 'CALL_CAPACITY_EXCEEDED'
  | 'CALL_NOT_FOUND'
  | 'NOT_IN_CALL'
  | 'NOT_CALL_OWNER'
  | 'NO_ROUTER'
  | 'MEDIA_OBJECT_NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'RATE_LIMITED'
  | 'SERVICE_CLOSED'
  | 'FORWARD_FAILED';

export class CallError extends Error {
  readonly code: CallErrorCode;

  constructor(code: CallErrorCode, message: string) {
    super(message);
    this.name = 'CallError';
    this.code = code;
    Error.captureStackTrace?.(this, CallError);
  }
}

/**
 * Thrown by a node asked to act on a call that another live node owns; the
 * Socket.IO binding catches it and forwards the request to `ownerNodeId`.
 */
export class NotCallOwnerError extends CallError {
  readonly ownerNodeId: string;

  constructor(callId: string, ownerNodeId: string) {
    super('NOT_CALL_OWNER', `call ${callId} is owned by node ${ownerNodeId}`);
    this.name = 'NotCallOwnerError';
    this.ownerNodeId = ownerNodeId;
  }
}

/** No media-server capacity is left (every worker full, dead or failing). */
export class MediaCapacityError extends CallError {
  constructor(message = 'no media-server capacity available') {
    super('CALL_CAPACITY_EXCEEDED', message);
    this.name = 'MediaCapacityError';
  }
}

/** The shape an error takes on the wire. */
export interface WireError {
  code: string;
  message: string;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof CallError) return { code: error.code, message: error.message };
  if (error instanceof TypeError) return { code: 'INVALID_ARGUMENT', message: error.message };
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}
