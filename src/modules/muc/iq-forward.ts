/**
 * iqs to an occupant's room JID (vCard and other queries between occupants): the room
 * passes a get or set from an occupant to the target's resource under a fresh id, and the answer
 * back to the asker from the target's room JID, so real JIDs stay hidden. Unanswered requests are
 * forgotten after `iq_timeout`.
 */
import type { StanzaEvent } from '../../core/event-map.js';
import { shallow } from './fanout.js';
import { keyOf } from './nick.js';
import { refuse } from './reply.js';
import type { MucService } from './service.js';

interface Pending {
  /** The asker's real full JID and its id. */
  asker: string;
  id: string;
  /** The target's room JID (the answer's from) and the real JID that must answer. */
  occupantJid: string;
  answerer: string;
  cancel: () => void;
}

export class IqForwarder {
  private readonly pending = new Map<string, Pending>();
  private next = 0;

  constructor(private readonly muc: MucService) {}

  handle(event: StanzaEvent): true {
    const { stanza, to, from } = event;
    const type = stanza.attrs.type;
    if (type === 'result' || type === 'error') {
      const p = this.pending.get(stanza.attrs.id ?? '');
      if (!p || p.answerer !== from.full) return true;
      this.pending.delete(stanza.attrs.id ?? '');
      p.cancel();
      const answer = shallow(stanza);
      answer.attrs.from = p.occupantJid;
      answer.attrs.to = p.asker;
      answer.attrs.id = p.id;
      this.muc.out.send(answer);
      return true;
    }
    const room = this.muc.room(to.local);
    if (!room) return refuse(this.muc.out, stanza, 'CANTO_ERR_MUC_ROOM_NOT_FOUND');
    const sender = room.bySession.get(from.full);
    if (!sender) return refuse(this.muc.out, stanza, 'CANTO_ERR_MUC_NOT_OCCUPANT');
    const key = keyOf(to.resource);
    const target = key === undefined ? undefined : room.occupants.get(key);
    if (!target) return refuse(this.muc.out, stanza, 'CANTO_ERR_MUC_NO_SUCH_OCCUPANT');
    const id = `muc-iq-${++this.next}`;
    const cancel = this.muc.mod.setTimeout(() => this.pending.delete(id), this.muc.options.iq_timeout);
    this.pending.set(id, { asker: from.full, id: stanza.attrs.id ?? '', occupantJid: `${room.jid}/${target.nick}`, answerer: target.primary, cancel });
    const forwarded = shallow(stanza);
    forwarded.attrs.from = `${room.jid}/${sender.nick}`;
    forwarded.attrs.to = target.primary;
    forwarded.attrs.id = id;
    this.muc.out.send(forwarded);
    return true;
  }
}
