/**
 * Publishing a JID to a real-time block list served by this server's own pubsub service: one
 * item per listed JID, its id the SHA-256 (hex) of the bare JID — the format xmppbl.org and
 * Prosody's mod_anti_spam use — so other servers (and the rtbl module) can subscribe to it.
 * Kept small and free of module state so the rtbl module can use it too.
 */
import { createHash } from 'node:crypto';
import type { ModuleServer } from '../../core/server.js';
import { parseJid } from '../../jid/index.js';
import { Element } from '../../xml/element.js';
import { NS_REPORTING, REASON_ABUSE, REASON_SPAM, type Reason } from './parse.js';

export interface RtblTarget {
  /** The domain of an internal pubsub component of this server, e.g. "pubsub.example.org". */
  service: string;
  node: string;
  /** Who publishes (must be allowed to publish to the node, e.g. the host or an admin). */
  publisher: string;
}

/** The item id a block list uses for a JID: SHA-256 hex of its bare form. */
export function rtblItemId(jid: string): string {
  return createHash('sha256').update(parseJid(jid).bare, 'utf8').digest('hex');
}

/** Publish `jid` to the list; resolves to the item id. Throws when the service is not this server's. */
export async function publishToRtbl(server: Pick<ModuleServer, 'components'>, target: RtblTarget, jid: string, reason: Reason = 'spam'): Promise<string> {
  const entry = server.components.get(target.service);
  const pubsub = entry?.kind === 'internal' ? entry.context?.services.get('pubsub') : undefined;
  if (!pubsub) throw new Error(`${target.service} is not a pubsub service of this server`);
  const id = rtblItemId(jid);
  const payload = new Element('report', { xmlns: NS_REPORTING, reason: reason === 'abuse' ? REASON_ABUSE : REASON_SPAM });
  await pubsub.publish(parseJid(target.publisher), target.node, { item: { id, payloads: [payload] } });
  return id;
}
