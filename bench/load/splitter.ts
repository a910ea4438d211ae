/**
 * Cuts a server's XMPP stream text into top-level stanzas without building trees: the load
 * generator only needs each stanza's text (to match a few names, ids and bodies), and a full
 * parser per connection would make the generator, not the server, the bottleneck.
 *
 * It tracks element depth by scanning '<' … '>' tags. This relies on what both servers send:
 * no CDATA, no comments, and no raw '>' inside attribute values (both escape it).
 */
export interface SplitResult {
  /** Complete depth-1 elements (stanzas, features, SASL answers), in order. */
  stanzas: string[];
  /** True when the stream header (<stream:stream …>) was seen in this chunk. */
  opened: boolean;
  /** True when the peer closed its stream (</stream:stream>). */
  closed: boolean;
}

export class StanzaSplitter {
  private buffer = '';
  /** Where scanning resumes in `buffer`. */
  private scan = 0;
  /** Start of the stanza being collected, or -1 between stanzas. */
  private stanzaStart = -1;
  /** 0 outside the stream, 1 inside it, 2+ inside a stanza. */
  private depth = 0;

  /** Forget everything: used after STARTTLS and SASL, when the stream restarts. */
  reset(): void {
    this.buffer = '';
    this.scan = 0;
    this.stanzaStart = -1;
    this.depth = 0;
  }

  push(chunk: string): SplitResult {
    const out: SplitResult = { stanzas: [], opened: false, closed: false };
    this.buffer = this.buffer.length === 0 ? chunk : this.buffer + chunk;
    const text = this.buffer;
    let i = this.scan;
    for (;;) {
      const lt = text.indexOf('<', i);
      if (lt === -1) {
        i = text.length;
        break;
      }
      const gt = text.indexOf('>', lt + 1);
      if (gt === -1) {
        i = lt; // an incomplete tag: wait for more text
        break;
      }
      const kind = text.charCodeAt(lt + 1);
      if (kind === 63 /* ? */ || kind === 33 /* ! */) {
        // XML declaration or comment-like markup: not an element.
      } else if (kind === 47 /* / */) {
        this.depth--;
        if (this.depth === 1 && this.stanzaStart !== -1) {
          out.stanzas.push(text.slice(this.stanzaStart, gt + 1));
          this.stanzaStart = -1;
        } else if (this.depth <= 0) {
          out.closed = true;
          this.depth = 0;
        }
      } else if (text.charCodeAt(gt - 1) === 47 /* self-closing */) {
        if (this.depth === 1) out.stanzas.push(text.slice(lt, gt + 1));
      } else {
        if (this.depth === 0) out.opened = true;
        else if (this.depth === 1) this.stanzaStart = lt;
        this.depth++;
      }
      i = gt + 1;
    }
    // Keep only what a later chunk still needs.
    const keepFrom = this.stanzaStart !== -1 ? this.stanzaStart : i;
    if (keepFrom > 0) {
      this.buffer = text.slice(keepFrom);
      if (this.stanzaStart !== -1) this.stanzaStart -= keepFrom;
      this.scan = i - keepFrom;
    } else {
      this.scan = i;
    }
    return out;
  }
}
