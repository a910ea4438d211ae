/**
 * What the migration tests (Canto round trip, Prosody, ejabberd) all check after an import: the
 * data a real client made for juliet before the move, as juliet sees it on Canto afterwards.
 */
import assert from 'node:assert/strict';
import { xml, type LoggedInClient } from './xmpp-client.js';

const NS_ROSTER = 'jabber:iq:roster';

/**
 * juliet's roster (romeo, named, in Montague, her subscription request pending), vCard, private
 * XML and block list arrived.
 */
export async function assertJulietBasics(juliet: LoggedInClient): Promise<void> {
  const roster = await juliet.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_ROSTER })));
  const item = roster.getChild('query', NS_ROSTER)?.getChild('item');
  assert.equal(item?.attrs.jid, 'romeo@localhost');
  assert.equal(item?.attrs.name, 'Romeo');
  assert.equal(item?.attrs.ask, 'subscribe');
  assert.equal(item?.getChildText('group'), 'Montague');
  const vcard = await juliet.iq(xml('iq', { type: 'get' }, xml('vCard', { xmlns: 'vcard-temp' })));
  assert.equal(vcard.getChild('vCard', 'vcard-temp')?.getChildText('FN'), 'Juliet Capulet');
  const priv = await juliet.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:private' }, xml('notes', { xmlns: 'http://example.org/notes' }))));
  assert.equal(priv.getChild('query')?.getChildText('notes'), 'buy poison');
  const blocked = await juliet.iq(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: 'urn:xmpp:blocking' })));
  assert.deepEqual(blocked.getChild('blocklist')?.getChildren('item').map((i) => i.attrs.jid), ['tybalt@evil.example']);
}
