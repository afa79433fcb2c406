/**
 * Error classes as mediasoup exports them. Bad arguments throw the built-in
 * `TypeError` (mediasoup does the same); these two cover the other cases.
 */

/** Thrown when an object is used after it was closed, or in the wrong state. */
export class InvalidStateError extends Error {
  constructor(message?: string) {
    super(message);
    this.name = 'InvalidStateError';
    Error.captureStackTrace?.(this, InvalidStateError);
  }
}

/** Thrown when something (a codec, a feature) is not supported. */
export class UnsupportedError extends Error {
  constructor(message?: string) {
    super(message);
    this.name = 'UnsupportedError';
    Error.captureStackTrace?.(this, UnsupportedError);
  }
}

/** The error kinds the native core reports, mapped to the classes above. */
export type NativeErrorKind = 'TypeError' | 'InvalidStateError' | 'UnsupportedError' | 'Error';

export function errorFromNative(kind: string, message: string): Error {
  switch (kind as NativeErrorKind) {
    case 'TypeError':
      return new TypeError(message);
    case 'InvalidStateError':
      return new InvalidStateError(message);
    case 'UnsupportedError':
      return new UnsupportedError(message);
    default:
      return new Error(message);
  }
}
