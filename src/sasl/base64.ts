/**
 * Strict base64 (RFC 4648 §4) for SASL payloads. RFC 6120 §6.4.2 forbids whitespace and line
 * breaks, and Buffer.from(…, 'base64') silently skips garbage, so the shape is checked first.
 */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The bytes, or undefined when `text` is not canonical padded base64. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Non-zero padding bits (e.g. "QR==") decode but do not re-encode to the same text.
  if (bytes.toString('base64') !== text) return undefined;
  return bytes;
}

/**
 * A SASL element's payload (RFC 6120 §6.4.2): no text means "no data", a single '=' means
 * "empty data". Returns 'invalid' for text that is not base64.
 */
export function decodeSaslPayload(text: string): Buffer | undefined | 'invalid' {
  if (text === '') return undefined;
  if (text === '=') return Buffer.alloc(0);
  return decodeBase64Strict(text) ?? 'invalid';
}

/** The text of a SASL element for `data`: '=' for empty data (RFC 6120 §6.4.2). */
export function encodeSaslPayload(data: Buffer): string {
  return data.length === 0 ? '=' : data.toString('base64');
}
