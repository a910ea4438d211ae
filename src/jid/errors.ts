// The one error type of the JID layer. Every failure to parse or prepare a JID is a JidError
// with a machine-readable reason; callers map all of them to the `jid-malformed` stanza error.

export type JidErrorReason =
  | 'empty-localpart'
  | 'localpart-too-long'
  | 'invalid-localpart-char' // a code point IdentifierClass or RFC 7622 §3.3.1 disallows
  | 'localpart-context-rule' // CONTEXTJ/CONTEXTO rule failed (e.g. a stray ZERO WIDTH JOINER)
  | 'localpart-bidi-rule' // right-to-left string breaking the Bidi Rule of RFC 5893
  | 'empty-domain'
  | 'domain-too-long'
  | 'empty-domain-label'
  | 'domain-label-too-long'
  | 'invalid-domain' // not a valid (internationalised) host name
  | 'invalid-ip-literal'
  | 'empty-resource'
  | 'resource-too-long'
  | 'invalid-resource-char' // a code point FreeformClass disallows
  | 'resource-context-rule';

export class JidError extends Error {
  /** The stanza/stream error condition every JID failure maps to (RFC 6120 §8.3.3.8). */
  readonly condition = 'jid-malformed';

  constructor(
    readonly reason: JidErrorReason,
    detail?: string,
  ) {
    super(detail === undefined ? `malformed JID: ${reason}` : `malformed JID: ${reason} (${detail})`);
    this.name = 'JidError';
  }
}
