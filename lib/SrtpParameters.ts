/**
 * SRTP keying for PlainTransport and PipeTransport (WebRTC transports key
 * SRTP through DTLS instead).
 */

export type SrtpCryptoSuite =
  | 'AEAD_AES_256_GCM'
  | 'AEAD_AES_128_GCM'
  | 'AES_CM_128_HMAC_SHA1_80'
  | 'AES_CM_128_HMAC_SHA1_32';

export type SrtpParameters = {
  cryptoSuite: SrtpCryptoSuite;
  /** Master key and salt, concatenated, base64. */
  keyBase64: string;
};
