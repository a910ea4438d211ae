/**
 * RFC 7395 framing for a client session: every WebSocket message is one complete element. The
 * client opens with <open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to=… version='1.0'/>, we
 * answer with our own <open/> and the features; stanzas and other top-level elements carry their
 * namespace themselves (stream-namespace ones declare the `stream` prefix); <close/> ends the
 * stream. A stream error is <stream:error xmlns:stream=…>…</stream:error> followed by <close/>.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../core/logging.js';
import type { CloseReason, Connection } from '../../core/session.js';
import type { StreamLimits } from '../../core/xmpp-stream.js';
import { describeReason } from '../../core/xmpp-stream.js';
import { closeReasonElement } from '../../core/stream-errors.js';
import { Element, NS_STREAM, serialize } from '../../xml/element.js';
import { escapeAttr } from '../../xml/escape.js';
import { StreamParser } from '../../xml/parser.js';
import type { ClientFraming, ClientStreamEvents } from '../c2s/client-session.js';

export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

/** How long we wait for the WebSocket closing handshake before cutting the connection. */
const CLOSE_GRACE_MS = 2000;

export interface WebSocketFramingOptions {
  /** Answer every <open/> with <close see-other-uri=…/> (RFC 7395 §3.6.1): send clients elsewhere. */
  seeOtherUri?: string;
}

/** Serialize a top-level element for a WebSocket message: it must declare its own namespaces. */
export function serializeMessage(el: Element): string {
  const text = serialize(el, undefined);
  if (el.xmlns !== NS_STREAM) return text;
  const tag = `<stream:${el.name}`;
  return `${tag} xmlns:stream='${NS_STREAM}'${text.slice(tag.length)}`;
}

export class WebSocketFraming implements ClientFraming {
  closeReason: CloseReason | undefined;
  private expectingOpen = true;
  private closing = false;

  /** True once either side ended the stream (a dropped connection leaves it false). */
  get ended(): boolean {
    return this.closing;
  }
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly parser: StreamParser;
  /** Elements the current message produced (a message must hold at least one complete element). */
  private elementsInMessage = 0;

  constructor(
    /** A WebSocketConnection (any Connection whose write() sends one message). */
    private readonly conn: Connection,
    private readonly limits: StreamLimits,
    private readonly log: Logger,
    private readonly events: ClientStreamEvents,
    private readonly opts: WebSocketFramingOptions = {},
  ) {
    this.parser = new StreamParser(
      {
        streamOpen: () => {}, // never called with fragment framing
        stanza: (el) => this.onElement(el),
        streamClose: () => {},
        error: (err) => {
          this.log.info({ condition: err.condition, text: err.text }, 'closing stream on bad XML');
          this.close({ condition: err.condition, text: err.text });
        },
      },
      {
        framing: 'fragment',
        maxStanzaBytes: limits.max_stanza_size,
        maxDepth: limits.max_depth,
        maxAttributes: limits.max_attributes,
        maxNameLength: limits.max_name_length,
      },
    );
  }

  /** One WebSocket message from the client. */
  message(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    if (isBinary) {
      this.close({ condition: 'bad-format', text: 'XMPP over WebSocket uses text messages' });
      return;
    }
    if (data.length > this.limits.max_stanza_size) {
      this.log.info({ bytes: data.length }, 'closing stream on an oversized message');
      this.close({ condition: 'policy-violation', text: `messages are limited to ${this.limits.max_stanza_size} bytes` });
      return;
    }
    this.elementsInMessage = 0;
    try {
      this.parser.write(data);
    } catch (err) {
      // A bug in a handler must cost one connection, never the process.
      this.log.error({ err }, 'error while handling input: closing the stream');
      this.close({ condition: 'internal-server-error' });
      return;
    }
    if (!this.closing && this.elementsInMessage === 0 && !isWhitespace(data)) {
      this.close({ condition: 'not-well-formed', text: 'each WebSocket message must hold complete XML elements' });
    }
  }

  openStream(attrs: { from?: string; lang?: string }): string {
    const id = randomBytes(12).toString('base64url');
    let open = `<open xmlns='${NS_FRAMING}' id='${id}'`;
    if (attrs.from !== undefined) open += ` from='${escapeAttr(attrs.from)}'`;
    open += ` version='1.0' xml:lang='${escapeAttr(attrs.lang ?? 'en')}'/>`;
    this.expectingOpen = false;
    this.conn.write(open);
    return id;
  }

  restart(): void {
    this.expectingOpen = true;
  }

  send(data: Element | string): void {
    if (this.closing) return;
    this.conn.write(typeof data === 'string' ? data : serializeMessage(data));
    if (this.conn.bufferedBytes > this.limits.max_send_buffer) {
      this.log.warn({ buffered: this.conn.bufferedBytes }, 'peer is not reading: closing the stream');
      this.close({ condition: 'policy-violation', text: 'too much unread data queued for this connection' });
    }
  }

  close(reason?: CloseReason): void {
    this.finish(reason, undefined);
  }

  /** Close the stream telling the client to reconnect at `uri` (RFC 7395 §3.6.1). */
  redirect(uri: string): void {
    this.finish(undefined, uri);
  }

  disposed(): void {
    if (this.closeTimer) clearTimeout(this.closeTimer);
  }

  private finish(reason: CloseReason | undefined, seeOtherUri: string | undefined): void {
    if (this.closing) return;
    this.closing = true;
    this.closeReason = reason;
    this.parser.end();
    if (reason !== undefined) {
      const el = closeReasonElement(reason);
      this.conn.write(serializeMessage(el));
      this.log.debug({ reason: describeReason(reason) }, 'closing stream');
    }
    const uri = seeOtherUri === undefined ? '' : ` see-other-uri='${escapeAttr(seeOtherUri)}'`;
    this.conn.write(`<close xmlns='${NS_FRAMING}'${uri}/>`);
    this.conn.end();
    this.closeTimer = setTimeout(() => this.conn.destroy(), CLOSE_GRACE_MS);
    this.closeTimer.unref();
  }

  private onElement(el: Element): void {
    this.elementsInMessage++;
    if (this.closing) return;
    if (el.xmlns === NS_FRAMING && el.name === 'close') {
      // The client ends the stream: answer with our <close/> and close the WebSocket.
      this.finish(undefined, undefined);
      this.events.streamClose();
      return;
    }
    if (el.xmlns === NS_FRAMING && el.name === 'open') {
      if (this.opts.seeOtherUri !== undefined && this.opts.seeOtherUri !== '') {
        this.redirect(this.opts.seeOtherUri);
        return;
      }
      // An <open/> outside a restart is taken as one: the session checks it like any other.
      this.events.streamOpen({ to: el.attrs.to, from: el.attrs.from, version: el.attrs.version, lang: el.attrs['xml:lang'] });
      return;
    }
    if (this.expectingOpen && el.name === 'open') {
      this.close({ condition: 'invalid-namespace', text: `<open/> must be in the ${NS_FRAMING} namespace` });
      return;
    }
    if (this.expectingOpen) {
      this.close({ condition: 'bad-format', text: `send <open xmlns='${NS_FRAMING}'/> before anything else` });
      return;
    }
    this.events.element(el);
  }
}

function isWhitespace(data: Buffer): boolean {
  for (const b of data) if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false;
  return true;
}
