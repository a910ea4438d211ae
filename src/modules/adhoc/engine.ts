/**
 * The XEP-0050 protocol: one `<command/>` request in, one reply out. Keeps command sessions,
 * walks a command's stages on execute/next/prev/complete/cancel, checks the submitted forms
 * and maps every protocol mistake to the error §4.6 names.
 */
import { Element } from '../../xml/element.js';
import { StanzaError, stanzaError, type StanzaErrorCode } from '../../core/errors.js';
import type { Jid } from '../../jid/index.js';
import { NS_COMMANDS, type AdhocCommand, type CommandContext, type CommandResult, type Note } from './api.js';
import { FormProblem, readSubmission, renderForm, NS_DATA, type FormValues } from './form.js';
import type { CommandSession, CommandSessions } from './sessions.js';

const ACTIONS = new Set(['execute', 'cancel', 'prev', 'next', 'complete']);

/** A protocol error with XEP-0050's specific condition (§4.6). */
function commandError(code: StanzaErrorCode, specific: string, text: string): StanzaError {
  return stanzaError(code, text, new Element(specific, { xmlns: NS_COMMANDS }));
}
export const badAction = (text: string) => commandError('CANTO_ERR_BAD_REQUEST', 'bad-action', text);

export interface EngineDeps {
  sessions: CommandSessions;
  find(node: string): AdhocCommand | undefined;
  mayRun(command: AdhocCommand, requester: Jid): boolean;
  isAdmin(requester: Jid): boolean;
  host: string;
  onOutcome(node: string, outcome: 'executing' | 'completed' | 'canceled' | 'error'): void;
}

export class CommandEngine {
  constructor(private readonly deps: EngineDeps) {}

  /** Answer a `<command/>` (throws StanzaError for the error reply). */
  async handle(from: Jid, request: Element): Promise<Element> {
    const node = request.attrs.node ?? '';
    const action = request.attrs.action;
    const command = this.deps.find(node);
    if (!command) throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', `no command "${node}"`);
    if (!this.deps.mayRun(command, from)) throw stanzaError('CANTO_ERR_FORBIDDEN', 'you may not run this command');
    if (action !== undefined && !ACTIONS.has(action)) throw commandError('CANTO_ERR_BAD_REQUEST', 'malformed-action', `unknown action "${action}"`);
    try {
      const reply = await this.step(command, from, request, action);
      this.deps.onOutcome(node, reply.attrs.status as 'executing' | 'completed' | 'canceled');
      return reply;
    } catch (err) {
      this.deps.onOutcome(node, 'error');
      if (err instanceof FormProblem) throw commandError('CANTO_ERR_BAD_REQUEST', 'bad-payload', err.message);
      throw err;
    }
  }

  private async step(command: AdhocCommand, from: Jid, request: Element, action: string | undefined): Promise<Element> {
    const id = request.attrs.sessionid;
    if (id === undefined) {
      if (action !== undefined && action !== 'execute') throw badAction(`"${action}" needs a session: start with execute`);
      const session = this.deps.sessions.open(command.node, from.full);
      if (command.stages.length === 0) return this.finish(command, from, session);
      return this.show(command, from, session);
    }
    const found = this.deps.sessions.find(id, command.node, from.full);
    if (!found.ok) {
      if (found.why === 'session-expired') throw commandError('CANTO_ERR_NOT_ALLOWED', 'session-expired', 'the session expired: start the command again');
      throw commandError('CANTO_ERR_BAD_REQUEST', 'bad-sessionid', 'no such session for this command');
    }
    const session = found.session;
    const last = command.stages.length - 1;
    const act = action === undefined || action === 'execute' ? (session.stage < last ? 'next' : 'complete') : action;
    switch (act) {
      case 'cancel':
        this.deps.sessions.close(session.id);
        return this.reply(command, session, 'canceled');
      case 'prev':
        if (session.stage === 0) throw badAction('this is the first stage');
        session.stage--;
        session.submitted.length = session.stage;
        return this.show(command, from, session);
      case 'next':
        if (session.stage >= last) throw badAction('this is the last stage: complete it');
        await this.submit(command, from, session, request);
        session.stage++;
        return this.show(command, from, session);
      default: // complete
        if (session.stage < last) throw badAction('there are more stages: use next');
        await this.submit(command, from, session, request);
        return this.finish(command, from, session);
    }
  }

  private context(from: Jid, session: CommandSession, extra?: FormValues): CommandContext {
    const values: FormValues = new Map();
    for (const v of [...session.submitted, ...(extra ? [extra] : [])]) for (const [k, vals] of v) values.set(k, vals);
    return { from, host: this.deps.host, isAdmin: this.deps.isAdmin(from), values };
  }

  /** Read and check the current stage's form; kept only when the stage's own checks pass. */
  private async submit(command: AdhocCommand, from: Jid, session: CommandSession, request: Element): Promise<void> {
    const stage = command.stages[session.stage];
    if (!stage) throw badAction('no such stage');
    const spec = await stage.form(this.context(from, session));
    const values = readSubmission(request.getChild('x', NS_DATA), spec);
    await stage.check?.(this.context(from, session, values));
    session.submitted[session.stage] = values;
  }

  private async show(command: AdhocCommand, from: Jid, session: CommandSession): Promise<Element> {
    const stage = command.stages[session.stage];
    if (!stage) throw badAction('no such stage');
    const el = this.reply(command, session, 'executing');
    const last = session.stage === command.stages.length - 1;
    const actions = el.c('actions', { execute: last ? 'complete' : 'next' });
    if (session.stage > 0) actions.c('prev');
    actions.c(last ? 'complete' : 'next');
    el.cnode(renderForm(await stage.form(this.context(from, session)), 'form'));
    return el;
  }

  private async finish(command: AdhocCommand, from: Jid, session: CommandSession): Promise<Element> {
    let result: CommandResult;
    try {
      result = await command.complete(this.context(from, session));
    } catch (err) {
      // A refused completion leaves a multi-stage session open, so the user can correct and retry.
      if (command.stages.length === 0) this.deps.sessions.close(session.id);
      throw err;
    }
    this.deps.sessions.close(session.id);
    const el = this.reply(command, session, 'completed');
    for (const note of result.notes ?? []) addNote(el, note);
    if (result.form) el.cnode(renderForm(result.form, 'result'));
    return el;
  }

  private reply(command: AdhocCommand, session: CommandSession, status: string): Element {
    return new Element('command', { xmlns: NS_COMMANDS, node: command.node, sessionid: session.id, status });
  }
}

function addNote(el: Element, note: Note): void {
  el.c('note', { type: note.type }).t(note.text);
}
