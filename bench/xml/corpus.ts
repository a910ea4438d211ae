/**
 * A deterministic corpus of realistic client-to-server XMPP traffic for the parser benchmark:
 * chat messages (body, thread, chat states, markers), presence with entity caps (XEP-0115) and
 * delay (XEP-0203), roster pushes with several items, MAM results (XEP-0313: a forwarded message
 * with delay inside a result), with some non-ASCII text and escaped characters.
 */
import { seededRandom } from '../load/stats.js';

export { seededRandom };

const NAMES = ['juliet', 'romeo', 'nurse', 'benvolio', 'mercutio', 'tybalt', 'laurence', 'balthasar'];
const WORDS = [
  'hello', 'are', 'you', 'coming', 'tonight', 'the', 'balcony', 'is', 'lovely', 'wherefore', 'art', 'thou',
  'meet', 'me', 'at', 'nine', 'ok', 'see', 'you', 'soon', 'message', 'sent', 'from', 'my', 'phone',
];
const NON_ASCII = ['Grüße aus Köln', 'こんにちは、元気ですか', 'Привет, как дела?', 'café crème ☕', 'ok 👍🎉', 'Ελληνικά'];
const ESCAPED = ['fish &amp; chips', 'a &lt; b &gt; c', 'it&apos;s &quot;fine&quot;', '&#x263A; smile'];

export function buildCorpus(targetBytes: number, seed = 42): { stream: Buffer; stanzas: number } {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const jid = (): string => `${pick(NAMES)}@capulet.example`;
  const full = (): string => `${jid()}/${pick(['balcony', 'orchard', 'phone', 'laptop'])}${Math.floor(rnd() * 100)}`;
  const id = (): string => Math.floor(rnd() * 2 ** 48).toString(36) + '-' + Math.floor(rnd() * 2 ** 30).toString(36);
  const stamp = (): string => `2024-0${1 + Math.floor(rnd() * 9)}-1${Math.floor(rnd() * 9)}T1${Math.floor(rnd() * 9)}:3${Math.floor(rnd() * 9)}:00.${Math.floor(rnd() * 900 + 100)}Z`;
  const sentence = (): string => {
    const r = rnd();
    if (r < 0.12) return pick(NON_ASCII);
    if (r < 0.18) return pick(ESCAPED);
    const n = 2 + Math.floor(rnd() * 14);
    const w: string[] = [];
    for (let i = 0; i < n; i++) w.push(pick(WORDS));
    return w.join(' ');
  };

  const chat = (): string =>
    `<message from='${full()}' to='${jid()}' type='chat' id='${id()}' xml:lang='en'>` +
    `<body>${sentence()}</body><thread>${id()}</thread>` +
    `<active xmlns='http://jabber.org/protocol/chatstates'/><markable xmlns='urn:xmpp:chat-markers:0'/>` +
    `<origin-id xmlns='urn:xmpp:sid:0' id='${id()}'/></message>`;
  const marker = (): string =>
    `<message from='${full()}' to='${jid()}' type='chat' id='${id()}'>` +
    `<${pick(['received', 'displayed'])} xmlns='urn:xmpp:chat-markers:0' id='${id()}'/>` +
    `<store xmlns='urn:xmpp:hints'/></message>`;
  const presence = (): string =>
    `<presence from='${full()}' to='${jid()}' id='${id()}'><show>${pick(['away', 'chat', 'dnd', 'xa'])}</show>` +
    `<status>${sentence()}</status><priority>${Math.floor(rnd() * 10)}</priority>` +
    `<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im' ver='${id()}='/>` +
    `<delay xmlns='urn:xmpp:delay' from='${jid()}' stamp='${stamp()}'/></presence>`;
  const roster = (): string => {
    let items = '';
    const n = 3 + Math.floor(rnd() * 5);
    for (let i = 0; i < n; i++) {
      items +=
        `<item jid='${jid()}' name='${pick(NAMES)} ${pick(['Capulet', 'Montague', 'Müller'])}' subscription='${pick(['both', 'to', 'from', 'none'])}'>` +
        `<group>${pick(['Friends', 'Family', 'Verona', 'Arbeit & Co'.replace('&', '&amp;')])}</group></item>`;
    }
    return `<iq type='set' id='${id()}' to='${full()}'><query xmlns='jabber:iq:roster' ver='ver${Math.floor(rnd() * 1000)}'>${items}</query></iq>`;
  };
  const mam = (): string =>
    `<message to='${full()}' id='${id()}'><result xmlns='urn:xmpp:mam:2' queryid='q${id()}' id='${id()}'>` +
    `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='${stamp()}'/>` +
    `<message xmlns='jabber:client' from='${full()}' to='${jid()}' type='chat' id='${id()}'>` +
    `<body>${sentence()}</body><stanza-id xmlns='urn:xmpp:sid:0' by='${jid()}' id='${id()}'/></message>` +
    `</forwarded></result></message>`;

  const header =
    `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' ` +
    `to='capulet.example' from='juliet@capulet.example' version='1.0' xml:lang='en'>`;
  const parts: string[] = [header];
  let size = header.length;
  let stanzas = 0;
  while (size < targetBytes) {
    const r = rnd();
    const st = r < 0.4 ? chat() : r < 0.55 ? marker() : r < 0.75 ? presence() : r < 0.85 ? roster() : mam();
    parts.push(st);
    size += st.length;
    stanzas++;
    if (rnd() < 0.1) parts.push(' '); // whitespace keepalive
  }
  parts.push('</stream:stream>');
  return { stream: Buffer.from(parts.join(''), 'utf8'), stanzas };
}

/** Splits the stream into chunks of 1–16 KiB, as reads from a socket would deliver it. */
export function chunkStream(stream: Buffer, seed = 7): Buffer[] {
  const rnd = seededRandom(seed);
  const chunks: Buffer[] = [];
  for (let pos = 0; pos < stream.length; ) {
    const size = 1024 + Math.floor(rnd() * 15 * 1024);
    chunks.push(stream.subarray(pos, pos + size));
    pos += size;
  }
  return chunks;
}
