/**
 * XEP-0206 framing for a client session: there is no stream header on the wire. The session
 * creation request (and each request with xmpp:restart='true') stands for the client's stream
 * open, our answer's attributes (sid, authid, from, …) for ours; stanzas travel inside <body/>.
 * A stream error is sent as <body type='terminate' condition='remote-stream-error'> holding the
 * <stream:error/> (the BoshSession builds that body from `closeReason` once the connection ends).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../core/logging.js';
import type { CloseReason } from '../../core/session.js';
import type { StreamLimits } from '../../core/xmpp-stream.js';
import { describeReason } from '../../core/xmpp-stream.js';
import { closeReasonElement } from '../../core/stream-errors.js';
import { Element, serialize } from '../../xml/element.js';
import type { ClientFraming, ClientStreamEvents, StreamOpen } from '../c2s/client-session.js';
import type { BoshConnection } from './connection.js';

export class BoshFraming implements ClientFraming {
  closeReason: CloseReason | undefined;
  /** Our side of the last stream open, for the session creation response. */
  streamId = '';
  streamFrom: string | undefined;
  private expectingOpen = true;
  private closing = false;

  /** True once either side ended the stream (a dropped connection leaves it false). */
  get ended(): boolean {
    return this.closing;
  }

  constructor(
    private readonly conn: BoshConnection,
    private readonly limits: StreamLimits,
    private readonly log: Logger,
    private readonly events: ClientStreamEvents,
  ) {}

  /** The session creation request or a restart request: the client's stream open. */
  open(open: StreamOpen): void {
    if (this.closing) return;
    this.events.streamOpen(open);
  }

  /** A payload element of a request. */
  element(el: Element): void {
    if (this.closing) return;
    if (this.expectingOpen) {
      this.close({ condition: 'bad-format', text: "send xmpp:restart='true' before anything else after authenticating" });
      return;
    }
    this.events.element(el);
  }

  /** The client sent type='terminate': its stream is closed. */
  clientClosed(): void {
    if (this.closing) return;
    this.closing = true;
    this.events.streamClose();
    this.conn.end();
  }

  get isClosing(): boolean {
    return this.closing;
  }

  openStream(attrs: { from?: string; lang?: string }): string {
    this.streamId = randomBytes(12).toString('base64url');
    this.streamFrom = attrs.from;
    this.expectingOpen = false;
    return this.streamId;
  }

  restart(): void {
    this.expectingOpen = true;
  }

  send(data: Element | string): void {
    if (this.closing) return;
    this.conn.write(typeof data === 'string' ? data : serialize(data, undefined));
    if (this.conn.bufferedBytes > this.limits.max_send_buffer) {
      this.log.warn({ buffered: this.conn.bufferedBytes }, 'BOSH client is not polling: closing the session');
      this.close({ condition: 'policy-violation', text: 'too much undelivered data queued for this session' });
    }
  }

  close(reason?: CloseReason): void {
    if (this.closing) return;
    this.closing = true;
    this.closeReason = reason;
    if (reason !== undefined) {
      this.log.debug({ reason: describeReason(reason) }, 'closing stream');
      const el = closeReasonElement(reason);
      this.conn.write(serialize(el, undefined));
    }
    this.conn.end();
  }

  disposed(): void {}
}
