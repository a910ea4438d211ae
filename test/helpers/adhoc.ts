/**
 * Running XEP-0050 commands with @xmpp/client in tests: `command()` sends one request and
 * returns the reply (result or error, never throws on an error reply), `submit()` builds a data
 * form, `fieldValues()` reads a result form. A test module gives a fake `fast` service and a
 * two-stage command to exercise prev/next.
 */
import { xml, type LoggedInClient, type XElement } from './xmpp-client.js';
import { defineModule } from '../../src/core/modules.js';
import type { FastService, FastTokenInfo } from '../../src/modules/adhoc/fast.js';

export const NS_COMMANDS = 'http://jabber.org/protocol/commands';
export const NS_ADMIN = 'http://jabber.org/protocol/admin';

export function submit(fields: Record<string, string | string[]>, formType?: string): XElement {
  const children: XElement[] = [];
  if (formType) children.push(xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType)));
  for (const [k, v] of Object.entries(fields)) children.push(xml('field', { var: k }, ...(Array.isArray(v) ? v : [v]).map((x) => xml('value', {}, x))));
  return xml('x', { xmlns: 'jabber:x:data', type: 'submit' }, ...children);
}

let n = 0;
export async function command(c: LoggedInClient, node: string, opts: { action?: string; sessionid?: string; form?: XElement; to?: string } = {}): Promise<XElement> {
  const id = `cmd${++n}`;
  const payload = xml('command', { xmlns: NS_COMMANDS, node, action: opts.action, sessionid: opts.sessionid }, ...(opts.form ? [opts.form] : []));
  await c.send(xml('iq', { type: 'set', id, to: opts.to ?? 'localhost' }, payload));
  return c.waitFor((s) => s.is('iq') && s.attrs.id === id);
}

/** Run a one-form command to the end: execute, then complete with `fields`. */
export async function runCommand(c: LoggedInClient, node: string, fields?: Record<string, string | string[]>, formType?: string): Promise<XElement> {
  const first = await command(c, node);
  const cmd = first.getChild('command', NS_COMMANDS);
  if (first.attrs.type === 'error' || fields === undefined || cmd?.attrs.status === 'completed') return first;
  return command(c, node, { sessionid: cmd?.attrs.sessionid, action: 'complete', form: submit(fields, formType) });
}

export function status(reply: XElement): string | undefined {
  return reply.getChild('command', NS_COMMANDS)?.attrs.status;
}

/** The XEP-0050 specific condition of an error reply (bad-action, bad-payload, …), if any. */
export function specificCondition(reply: XElement): string | undefined {
  const err = reply.getChild('error');
  const c = err?.children.find((x): x is XElement => typeof x !== 'string' && x.attrs.xmlns === NS_COMMANDS);
  return c?.name;
}

export function fieldValues(reply: XElement): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const x = reply.getChild('command', NS_COMMANDS)?.getChild('x', 'jabber:x:data');
  for (const f of x?.getChildren('field') ?? []) out.set(f.attrs.var ?? '', f.getChildren('value').map((v) => v.getText()));
  return out;
}

export function notes(reply: XElement): string[] {
  return (reply.getChild('command', NS_COMMANDS)?.getChildren('note') ?? []).map((x) => x.getText());
}

/** A stand-in fast service (tokens the test chooses, calls recorded) and a two-stage command. */
export function fakeFastModule(tokens: Map<string, FastTokenInfo[]>, calls: string[]) {
  const fast: FastService = {
    listTokens: async (u) => tokens.get(u) ?? [],
    revoke: async (u, id) => {
      calls.push(`revoke ${u} ${id ?? ''}`);
      const before = tokens.get(u) ?? [];
      tokens.set(u, before.filter((t) => t.id !== id));
      return before.length - (tokens.get(u) ?? []).length;
    },
    revokeAll: async (u) => {
      calls.push(`revokeAll ${u}`);
      const n = (tokens.get(u) ?? []).length;
      tokens.set(u, []);
      return n;
    },
  };
  return defineModule({
    name: 'test_fast',
    depends: ['adhoc'],
    setup(mod) {
      mod.provides('fast', fast);
      mod.onUnload(mod.require('adhoc').register({
        node: 'test:two-stages',
        name: 'Two stages',
        access: 'user',
        stages: [
          { form: () => ({ fields: [{ var: 'first', type: 'text-single', required: true }] }) },
          { form: (ctx) => ({ fields: [{ var: 'second', type: 'list-single', required: true, options: [{ value: 'a' }, { value: ctx.values.get('first')?.[0] ?? 'b' }] }] }) },
        ],
        complete: (ctx) => ({ notes: [{ type: 'info', text: `${ctx.values.get('first')?.[0]}+${ctx.values.get('second')?.[0]}` }] }),
      }));
    },
  });
}
