/**
 * Component logic without sockets: the XEP-0114 handshake digest and its check, the address
 * rules for stanzas from a component, the namespace move, the registry, and the event
 * dispatch to an internal component's bus.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handshakeDigest, verifyHandshake } from '../../src/modules/component/handshake.js';
import { checkComponentAddresses, isComponentStanza, toClientNamespace } from '../../src/modules/component/addressing.js';
import { deliverToComponent } from '../../src/modules/component/internal.js';
import { ComponentRegistry } from '../../src/core/components.js';
import { HostContext } from '../../src/core/host.js';
import { silentLogger } from '../../src/core/logging.js';
import { Element } from '../../src/xml/element.js';
import { NS } from '../../src/xml/ns.js';
import { parseJid } from '../../src/jid/index.js';
import type { StanzaEvent } from '../../src/core/event-map.js';

declare module '../../src/core/event-map.js' {
  interface EventMap {
    'iq-get/bare/urn:x:query': StanzaEvent;
  }
}

test('handshake digest: hex SHA-1 of stream id + secret (UTF-8)', () => {
  // printf '3BF96D32secret' | sha1sum
  assert.equal(handshakeDigest('3BF96D32', 'secret'), 'b09ea9b3b7f586be8a08d0a3dd7466f110aeb136');
  // printf 'abcDEFsécret' | sha1sum  (the é as UTF-8 bytes)
  assert.equal(handshakeDigest('abcDEF', 'sécret'), 'fcfcac4579632b66aa32e7dd097796a7ac6862a5');
});

test('handshake check: accepts the digest in any case and with surrounding whitespace only', () => {
  const good = handshakeDigest('id1', 's3cret');
  assert.equal(verifyHandshake(good, 'id1', 's3cret'), true);
  assert.equal(verifyHandshake(` ${good.toUpperCase()}\n`, 'id1', 's3cret'), true);
  assert.equal(verifyHandshake(good, 'id2', 's3cret'), false, 'another stream id');
  assert.equal(verifyHandshake(good, 'id1', 's3creT'), false, 'another secret');
  assert.equal(verifyHandshake(good.slice(0, 39), 'id1', 's3cret'), false, 'too short');
  assert.equal(verifyHandshake(good + '0', 'id1', 's3cret'), false, 'too long');
  assert.equal(verifyHandshake('', 'id1', 's3cret'), false, 'empty');
  assert.equal(verifyHandshake('s3cret', 'id1', 's3cret'), false, 'the secret itself');
});

function stanza(attrs: Record<string, string>): Element {
  const el = new Element('message', attrs, NS.componentAccept);
  el.c('body').t('x');
  return el;
}

test('addresses: from at the domain is accepted and normalized; a missing from becomes the domain', () => {
  const a = stanza({ from: 'Bot@Comp.Example/R', to: 'u@example.com' });
  assert.deepEqual(checkComponentAddresses(a, 'comp.example'), { ok: true });
  assert.equal(a.attrs.from, 'bot@comp.example/R');
  const b = stanza({ from: 'comp.example/res', to: 'u@example.com' });
  assert.deepEqual(checkComponentAddresses(b, 'comp.example'), { ok: true });
  const c = stanza({ to: 'u@example.com' });
  assert.deepEqual(checkComponentAddresses(c, 'comp.example'), { ok: true });
  assert.equal(c.attrs.from, 'comp.example');
});

test('addresses: a from elsewhere is invalid-from; no to is improper-addressing', () => {
  const bad = (attrs: Record<string, string>) => {
    const r = checkComponentAddresses(stanza(attrs), 'comp.example');
    return r.ok ? 'ok' : r.condition;
  };
  assert.equal(bad({ from: 'u@example.com', to: 'x@example.com' }), 'invalid-from');
  assert.equal(bad({ from: 'sub.comp.example', to: 'x@example.com' }), 'invalid-from');
  assert.equal(bad({ from: 'comp.example.evil', to: 'x@example.com' }), 'invalid-from');
  assert.equal(bad({ from: '@@bad', to: 'x@example.com' }), 'invalid-from');
  assert.equal(bad({ from: 'comp.example' }), 'improper-addressing');
  assert.equal(bad({ from: 'comp.example', to: '' }), 'improper-addressing');
});

test('toClientNamespace moves the stanza and inherited children, leaves payload namespaces', () => {
  const el = new Element('iq', { type: 'get' }, NS.componentAccept);
  el.c('query', { xmlns: 'jabber:iq:version' }).c('name');
  el.c('extra');
  toClientNamespace(el);
  assert.equal(el.xmlns, NS.client);
  assert.equal(el.getChild('query')?.xmlns, 'jabber:iq:version');
  assert.equal(el.getChild('query')?.getChild('name')?.xmlns, 'jabber:iq:version');
  assert.equal(el.getChild('extra')?.xmlns, NS.client);
  assert.equal(el.is('iq', NS.client), true);
});

test('isComponentStanza: message, presence, iq in jabber:component:accept only', () => {
  assert.equal(isComponentStanza(new Element('iq', {}, NS.componentAccept)), true);
  assert.equal(isComponentStanza(new Element('presence', {}, NS.componentAccept)), true);
  assert.equal(isComponentStanza(new Element('message', {}, NS.client)), false);
  assert.equal(isComponentStanza(new Element('handshake', {}, NS.componentAccept)), false);
});

test('registry: kinds from the config, iteration yields domains, availability follows what serves it', () => {
  const reg = new ComponentRegistry([
    { domain: 'ext.example', secret: 's' },
    { domain: 'muc.example', module: 'muc' },
  ]);
  assert.deepEqual([...reg], ['ext.example', 'muc.example']);
  assert.equal(reg.size, 2);
  assert.equal(reg.has('ext.example'), true);
  assert.equal(reg.has('other.example'), false);
  assert.equal(reg.get('ext.example')?.kind, 'external');
  assert.equal(reg.get('muc.example')?.kind, 'internal');
  assert.deepEqual(reg.entriesOf('internal').map((e) => e.module), ['muc']);
  assert.deepEqual(reg.entriesOf('external').map((e) => e.secret), ['s']);
  assert.equal(reg.isAvailable('ext.example'), false);
  assert.equal(reg.isAvailable('muc.example'), false);
  const ctx = makeContext('muc.example');
  const muc = reg.entriesOf('internal')[0];
  assert.ok(muc);
  muc.context = ctx;
  assert.equal(reg.isAvailable('muc.example'), true);
  assert.equal(reg.isAvailable('nowhere.example'), false);
});

function makeContext(domain: string): HostContext {
  const log = silentLogger();
  return new HostContext(domain, { domain, allow_registration: false, modules_enabled: [], modules_disabled: [] }, log, () => {});
}

function event(el: Element, to: string): StanzaEvent {
  const ctx = makeContext('origin.example');
  return { origin: ctx.session, stanza: el, to: parseJid(to), from: parseJid('u@origin.example/r') };
}

test('dispatch: the kind event by destination; its priority-0 handler fires the iq payload event (no destination pre- events)', () => {
  const ctx = makeContext('muc.example');
  const fired: string[] = [];
  const record = (name: string, claim: boolean) => () => {
    fired.push(name);
    return claim;
  };
  ctx.events.on('pre-iq/bare', record('pre-iq/bare', false));
  ctx.events.on('iq-get/bare/urn:x:query', record('iq-get/bare/urn:x:query', false));
  ctx.events.on('iq/bare', record('iq/bare high', false), 10);
  ctx.events.on('iq/bare', record('iq/bare low', true), -10);
  const iq = new Element('iq', { type: 'get', id: '1' }, NS.client);
  iq.c('query', { xmlns: 'urn:x' });
  assert.deepEqual(deliverToComponent(ctx, event(iq, 'room@muc.example')), { handled: true });
  assert.deepEqual(fired, ['iq/bare high', 'iq-get/bare/urn:x:query', 'iq/bare low']);

  fired.length = 0;
  ctx.events.on('presence/full', record('presence/full', true));
  ctx.events.on('message/host', record('message/host', false));
  assert.equal(deliverToComponent(ctx, event(new Element('presence', {}, NS.client), 'room@muc.example/nick')).handled, true);
  assert.equal(deliverToComponent(ctx, event(new Element('message', {}, NS.client), 'muc.example')).handled, false);
  assert.deepEqual(fired, ['presence/full', 'message/host']);
});

test('dispatch: a throwing handler is reported so the sender gets internal-server-error', () => {
  const ctx = makeContext('muc.example');
  ctx.events.on('message/bare', () => {
    throw new Error('broken');
  });
  const r = deliverToComponent(ctx, event(new Element('message', {}, NS.client), 'room@muc.example'));
  assert.equal(r.handled, false);
  assert.ok(r.error instanceof Error);
});
