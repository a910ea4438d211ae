/**
 * What the parts of the s2s module share: the server, settings, the security policy, the
 * dialback secret, the counters, and the stream header writer (the core XmppStream header has
 * no room for the `xmlns:db` declaration dialback peers look for).
 */
import type { S2SDns } from './dns.js';
import type { ModuleServer } from '../../core/server.js';
import type { Logger } from '../../core/logging.js';
import type { XmppStream } from '../../core/xmpp-stream.js';
import type { Element } from '../../xml/element.js';
import { NS_STREAM } from '../../xml/element.js';
import { escapeAttr } from '../../xml/escape.js';
import { NS } from '../../xml/ns.js';
import type { StanzaErrorCondition } from '../../xml/stanza.js';
import { NS_DIALBACK } from './dialback.js';
import type { S2SSecurity } from './security.js';

/** Counters for operators (there is no metrics module yet): read with s2sStats(server). */
export interface S2SStats {
  incomingStreams: number;
  outgoingStreams: number;
  /** Connection attempts to one target that failed (refused, timed out, TLS failed). */
  connectFailures: number;
  authExternal: number;
  authDialback: number;
  /** Authentications refused or failed, either direction. */
  authFailures: number;
  /** db:verify requests we answered as the authoritative server. */
  dialbackVerifiesAnswered: number;
  /** Streams on which XEP-0288 bidirectionality was negotiated, either direction. */
  bidiStreams: number;
  stanzasIn: number;
  stanzasOut: number;
  /** Stanzas bounced because no stream to their domain could be made. */
  stanzasBounced: number;
}

export function emptyStats(): S2SStats {
  return {
    incomingStreams: 0, outgoingStreams: 0, connectFailures: 0, authExternal: 0, authDialback: 0, authFailures: 0,
    dialbackVerifiesAnswered: 0, bidiStreams: 0, stanzasIn: 0, stanzasOut: 0, stanzasBounced: 0,
  };
}

export interface S2SOptions {
  /** Per connection attempt (TCP connect, and the TLS handshake for direct TLS). */
  connectTimeout: number;
  /** From the first connection attempt to an authenticated stream (outgoing). */
  negotiationTimeout: number;
  /** Unauthenticated incoming streams are closed after this long. */
  authTimeout: number;
  /** Stanzas held per remote domain while its stream is being set up. */
  queueSize: number;
}

/**
 * What the authoritative server said about a dialback key, or why it could not be asked
 * (XEP-0220 §2.4: remote-server-not-found, remote-server-timeout, or the error it answered with).
 */
export type VerifyResult = 'valid' | 'invalid' | { error: StanzaErrorCondition; text?: string };

/** The outgoing side as the incoming side needs it (dialback verification). */
export interface DialbackVerifier {
  /** Ask the authoritative server of `remote` whether `key` is valid for our stream `streamId`. */
  verify(local: string, remote: string, streamId: string, key: string): Promise<VerifyResult>;
}

/** A way to send stanzas for a (local, remote) pair over a stream the peer opened (XEP-0288). */
export interface BidiRoute {
  send(stanza: Element): void;
}

/** Where incoming bidirectional streams offer themselves for sending (the OutgoingManager). */
export interface BidiRoutes {
  /** Use `route` for stanzas from `local` to `remote`; returns the function that withdraws it. */
  addBidiRoute(local: string, remote: string, route: BidiRoute): () => void;
}

export interface S2SContext {
  server: ModuleServer;
  log: Logger;
  security: S2SSecurity;
  /** XEP-0185 dialback secret of this server. */
  secret: string;
  stats: S2SStats;
  options: S2SOptions;
  verifier: DialbackVerifier;
  bidiRoutes: BidiRoutes;
  /** SRV and address lookups (`[s2s] dns_servers`, else the system's). */
  dns: S2SDns;
}

/** Write a jabber:server stream header (declaring the dialback prefix) and mark it sent. */
export function writeStreamHeader(stream: XmppStream, attrs: { from?: string; to?: string; id?: string }): void {
  let header = `<?xml version='1.0'?><stream:stream xmlns='${NS.server}' xmlns:stream='${NS_STREAM}' xmlns:db='${NS_DIALBACK}'`;
  if (attrs.id !== undefined) header += ` id='${escapeAttr(attrs.id)}'`;
  if (attrs.from !== undefined) header += ` from='${escapeAttr(attrs.from)}'`;
  if (attrs.to !== undefined) header += ` to='${escapeAttr(attrs.to)}'`;
  header += ` version='1.0' xml:lang='en'>`;
  stream.headerSent = true;
  stream.conn.write(header);
}
