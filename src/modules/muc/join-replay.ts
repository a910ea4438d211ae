/** What a resource gets after the presences when it enters (§7.2.15 history, §7.2.16 subject). */
import { Element } from '../../xml/element.js';
import { message } from '../../xml/stanza.js';
import { addressed } from './fanout.js';
import type { HistoryEntry, HistoryRequest } from './history.js';
import { NS_DELAY } from './ns.js';
import type { Room } from './room.js';
import type { MucService } from './service.js';

/** The history (each message with a delay stamp from the room), then the subject, to one resource. */
export function sendHistoryAndSubject(muc: MucService, room: Room, to: string, request: HistoryRequest): void {
  const send = (entries: HistoryEntry[]): void => {
    for (const e of entries) {
      const copy = addressed(e.stanza, to);
      copy.cnode(new Element('delay', { xmlns: NS_DELAY, from: room.jid, stamp: new Date(e.when).toISOString() }));
      muc.out.send(copy);
    }
    muc.out.send(subjectMessage(room, to));
  };
  const entries = muc.history.fetch(room, request, muc.now());
  if (Array.isArray(entries)) send(entries);
  else {
    entries.then(send, (err: unknown) => {
      muc.mod.log.error({ err, room: room.jid }, 'fetching room history failed');
      send([]);
    });
  }
}

/** §7.2.16: the subject, from the occupant who set it (the room when none did); an empty <subject/> when there is none. */
export function subjectMessage(room: Room, to?: string): Element {
  const s = room.subject;
  const from = s && s.nick !== '' ? `${room.jid}/${s.nick}` : room.jid;
  const m = message({ from, to, type: 'groupchat' });
  const subject = m.c('subject');
  if (s && s.text !== '') subject.t(s.text);
  return m;
}
