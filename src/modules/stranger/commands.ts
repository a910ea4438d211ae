/**
 * The user's side of message requests, as ad-hoc commands (XEP-0050): list them, accept senders
 * (they become approved and their held messages are delivered, with a XEP-0203 delay), dismiss
 * senders (their held messages are deleted).
 */
import type { ModuleApi } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import type { CounterMetric } from '../../core/metrics.js';
import type { AdhocCommand } from '../adhoc/api.js';
import type { FormSpec } from '../adhoc/form.js';
import type { KnownContacts } from './known.js';
import type { MessageRequests } from './requests.js';

export const NODE_LIST_REQUESTS = 'urn:canto:adhoc:message-requests';
export const NODE_ACCEPT_REQUESTS = 'urn:canto:adhoc:message-requests:accept';
export const NODE_DISMISS_REQUESTS = 'urn:canto:adhoc:message-requests:dismiss';

export interface RequestActions {
  /** Approve `sender` and deliver what they sent; returns how many messages. */
  accept(username: string, sender: string): Promise<number>;
  dismiss(username: string, sender: string): Promise<number>;
}

export function requestActions(mod: ModuleApi, requests: MessageRequests, known: KnownContacts, outcomes: CounterMetric<'outcome'>): RequestActions {
  return {
    async accept(username, sender) {
      // Approved first, so the held messages routed again pass the check.
      await known.approve(username, sender);
      const held = await requests.take(username, sender, mod.host);
      for (const stanza of held) mod.send(stanza);
      outcomes.inc({ outcome: 'accepted' });
      mod.log.info({ user: `${username}@${mod.host}`, sender, messages: held.length }, 'message request accepted');
      return held.length;
    },
    async dismiss(username, sender) {
      const n = await requests.dismiss(username, sender);
      outcomes.inc({ outcome: 'dismissed' });
      mod.log.info({ user: `${username}@${mod.host}`, sender, messages: n }, 'message request dismissed');
      return n;
    },
  };
}

function describe(r: { sender: string; count: number; first: number; preview: string }): string {
  const n = r.count === 1 ? '1 message' : `${r.count} messages`;
  return `${n} since ${new Date(r.first).toISOString()}: ${r.preview}`;
}

export function requestCommands(requests: MessageRequests, actions: RequestActions): AdhocCommand[] {
  const chooser = (title: string) => async ({ from }: { from: { local: string } }): Promise<FormSpec> => {
    const list = await requests.list(from.local);
    if (list.length === 0) return { title, instructions: 'There are no message requests.', fields: [{ type: 'fixed', value: 'No message requests.' }] };
    return {
      title,
      fields: [{ var: 'senders', type: 'list-multi', label: 'Senders', required: true, options: list.map((r) => ({ value: r.sender, label: `${r.sender} (${describe(r)})` })) }],
    };
  };
  const senders = (values: Map<string, string[]>): string[] => {
    const chosen = values.get('senders') ?? [];
    if (chosen.length === 0) throw stanzaError('CANTO_ERR_BAD_REQUEST', 'choose at least one sender');
    return chosen;
  };
  return [
    {
      node: NODE_LIST_REQUESTS,
      name: 'Message requests',
      access: 'user',
      stages: [],
      async complete({ from }) {
        const list = await requests.list(from.local);
        if (list.length === 0) return { notes: [{ type: 'info', text: 'There are no message requests.' }] };
        return {
          form: {
            title: 'Message requests',
            instructions: 'Messages from people you have not written to. Accept or dismiss them with the commands of the same name.',
            fields: list.map((r) => ({ var: r.sender, type: 'fixed' as const, label: r.sender, value: describe(r) })),
          },
        };
      },
    },
    {
      node: NODE_ACCEPT_REQUESTS,
      name: 'Accept message requests',
      access: 'user',
      stages: [{ form: chooser('Accept message requests') }],
      async complete({ from, values }) {
        let n = 0;
        for (const sender of senders(values)) n += await actions.accept(from.local, sender);
        return { notes: [{ type: 'info', text: `Accepted; ${n} held message(s) delivered.` }] };
      },
    },
    {
      node: NODE_DISMISS_REQUESTS,
      name: 'Dismiss message requests',
      access: 'user',
      stages: [{ form: chooser('Dismiss message requests') }],
      async complete({ from, values }) {
        let n = 0;
        for (const sender of senders(values)) n += await actions.dismiss(from.local, sender);
        return { notes: [{ type: 'info', text: `Dismissed; ${n} held message(s) deleted.` }] };
      },
    },
  ];
}
