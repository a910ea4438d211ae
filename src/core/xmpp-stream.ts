/**
 * One XML stream over a Connection: feeds bytes to the parser, writes our stream header,
 * serializes stanzas in the stream's content namespace, and implements the documented
 * `close(reason)`: an optional <stream:error/> or element, then </stream:stream>, then the
 * socket is closed (at once if the peer already closed its stream, after a short wait otherwise).
 */
import { randomBytes } from 'node:crypto';
import { Element, NS_STREAM, serialize } from '../xml/element.js';
import { escapeAttr } from '../xml/escape.js';
import { StreamParser, type XmlError } from '../xml/parser.js';
import { STANZA_NAMESPACES } from '../xml/ns.js';
import type { Logger } from './logging.js';
import type { CloseReason, Connection } from './session.js';
import { closeReasonElement, describeReason } from './stream-errors.js';

export { describeReason } from './stream-errors.js';

export interface StreamLimits {
  max_stanza_size: number;
  max_depth: number;
  max_attributes: number;
  max_name_length: number;
  max_send_buffer: number;
}

export interface StreamHandlers {
  streamOpen(header: Element, contentNs: string): void;
  element(el: Element): void;
  /** The peer closed its stream (we have already answered with our closing tag). */
  streamClose(): void;
}

/** How long we wait for the peer to close after we sent </stream:stream>. */
const CLOSE_GRACE_MS = 2000;

export class XmppStream {
  headerSent = false;
  closing = false;
  /** Why we closed the stream, for the session-destroyed event. */
  closeReason: CloseReason | undefined;
  private peerClosed = false;

  /** True once either side ended the stream with </stream:stream> (a dropped connection leaves it false). */
  get ended(): boolean {
    return this.closing;
  }
  private readonly parser: StreamParser;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly conn: Connection,
    /** The namespace this stream carries stanzas in: jabber:client, jabber:server, … */
    readonly contentNs: string,
    private readonly limits: StreamLimits,
    private readonly log: Logger,
    private readonly handlers: StreamHandlers,
  ) {
    this.parser = new StreamParser(
      {
        streamOpen: (header, ns) => this.handlers.streamOpen(header, ns),
        stanza: (el) => this.handlers.element(el),
        streamClose: () => this.onPeerClose(),
        error: (err) => this.onParseError(err),
      },
      {
        maxStanzaBytes: limits.max_stanza_size,
        maxDepth: limits.max_depth,
        maxAttributes: limits.max_attributes,
        maxNameLength: limits.max_name_length,
      },
    );
  }

  feed(data: Buffer): void {
    if (this.peerClosed) return;
    try {
      this.parser.write(data);
    } catch (err) {
      // A bug in a handler must cost one connection, never the process.
      this.log.error({ err }, 'error while handling input: closing the stream');
      this.close({ condition: 'internal-server-error' });
    }
  }

  /** Send our stream header. `id` is generated when not given; returns the id used. */
  openStream(attrs: { from?: string; to?: string; id?: string; version?: string; lang?: string }): string {
    const id = attrs.id ?? randomBytes(12).toString('base64url');
    let header = `<?xml version='1.0'?><stream:stream xmlns='${this.contentNs}' xmlns:stream='${NS_STREAM}'`;
    header += ` id='${id}'`;
    if (attrs.from !== undefined) header += ` from='${escapeAttr(attrs.from)}'`;
    if (attrs.to !== undefined) header += ` to='${escapeAttr(attrs.to)}'`;
    header += ` version='${attrs.version ?? '1.0'}' xml:lang='${escapeAttr(attrs.lang ?? 'en')}'>`;
    this.headerSent = true;
    this.conn.write(header);
    return id;
  }

  /** Expect a new stream header from the peer (after STARTTLS or SASL success). */
  restart(): void {
    this.headerSent = false;
    this.parser.reset();
  }

  send(data: Element | string): void {
    if (this.closing) return;
    const text = typeof data === 'string' ? data : this.serialize(data);
    this.conn.write(text);
    if (this.conn.bufferedBytes > this.limits.max_send_buffer) {
      this.log.warn({ buffered: this.conn.bufferedBytes }, 'peer is not reading: closing the stream');
      this.close({ condition: 'policy-violation', text: 'too much unread data queued for this connection' });
    }
  }

  /** Serialize a stanza for this stream: stanza namespaces become the stream's own. */
  serialize(el: Element): string {
    return serialize(el, STANZA_NAMESPACES.has(el.xmlns) ? el.xmlns : this.contentNs);
  }

  close(reason?: CloseReason): void {
    if (this.closing) return;
    if (!this.headerSent) this.openStream({});
    this.closing = true;
    this.closeReason = reason;
    let out = '';
    if (reason !== undefined) {
      const el = closeReasonElement(reason);
      out += serialize(el, this.contentNs);
      this.log.debug({ reason: describeReason(reason) }, 'closing stream');
    }
    out += '</stream:stream>';
    this.conn.write(out);
    if (this.peerClosed) {
      this.conn.end();
    } else {
      // Give the peer a moment to close its side; then cut the connection.
      this.closeTimer = setTimeout(() => this.conn.destroy(), CLOSE_GRACE_MS);
      this.closeTimer.unref();
      this.conn.end();
    }
  }

  /** The connection is gone: stop timers. */
  disposed(): void {
    if (this.closeTimer) clearTimeout(this.closeTimer);
  }

  private onPeerClose(): void {
    this.peerClosed = true;
    if (!this.closing) {
      this.close();
      this.handlers.streamClose();
    } else {
      this.conn.end();
    }
  }

  private onParseError(err: XmlError): void {
    this.log.info({ condition: err.condition, text: err.text }, 'closing stream on bad XML');
    this.close({ condition: err.condition, text: err.text });
  }
}
