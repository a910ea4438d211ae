/**
 * XEP-0050 Ad-Hoc Commands: the framework (sessions, actions, forms, errors, disco) and the
 * `adhoc` service other modules register commands with; with the built-in commands for users
 * (change password, devices) and for the server's admins (XEP-0133). README.md in this folder.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { StanzaError, stanzaError } from '../../core/errors.js';
import { Element } from '../../xml/element.js';
import { duration } from '../../core/option-schemas.js';
import { NS_COMMANDS, type AdhocCommand, type AdhocService } from './api.js';
import { CommandEngine } from './engine.js';
import { CommandSessions } from './sessions.js';
import { NS_DATA } from './form.js';
import type { Jid } from '../../jid/index.js';
import { userCommands } from './user-commands.js';
import { adminCommands } from './admin-commands.js';

export default defineModule({
  name: 'adhoc',
  description: 'XEP-0050 Ad-Hoc Commands, XEP-0133 Service Administration',
  depends: ['disco', 'account_state'],
  options: z.object({
    /** A command session idle this long is dropped (its next request gets session-expired). */
    session_timeout: duration('10 minutes', { min: 1000 }),
    max_sessions_per_user: z.number().int().min(1).default(10),
  }),
  setup(mod) {
    const commands = new Map<string, AdhocCommand>();
    const sessions = new CommandSessions(() => mod.now(), mod.options.session_timeout, mod.options.max_sessions_per_user);
    mod.setInterval(() => sessions.sweep(), Math.min(mod.options.session_timeout, 60_000));
    const outcomes = mod.measure.counter('adhoc_requests_total', 'Ad-hoc command requests, by command node and outcome (executing, completed, canceled, error)', ['command', 'outcome']);
    mod.measure.gauge('adhoc_sessions', 'Open multi-stage command sessions', [], (g) => g.set(sessions.size));

    const isAdmin = (jid: Jid): boolean => jid.domain === mod.host && mod.server.config.admins.includes(jid.bare);
    const mayRun = (command: AdhocCommand, requester: Jid): boolean => {
      // Only the host's own users: commands act on this host's accounts.
      if (requester.domain !== mod.host || requester.local === '') return false;
      if (command.access === 'user') return true;
      if (command.access === 'admin') return isAdmin(requester);
      return command.access(requester);
    };
    const service: AdhocService = {
      register(command) {
        if (commands.has(command.node)) throw new Error(`ad-hoc command ${command.node} is already registered`);
        commands.set(command.node, command);
        return () => {
          if (commands.get(command.node) === command) commands.delete(command.node);
        };
      },
      mayRun(node, requester) {
        const c = commands.get(node);
        return c !== undefined && mayRun(c, requester);
      },
    };
    mod.provides('adhoc', service);

    const engine = new CommandEngine({
      sessions,
      find: (node) => commands.get(node),
      mayRun,
      isAdmin,
      host: mod.host,
      onOutcome: (node, outcome) => outcomes.inc({ command: node, outcome }),
    });

    mod.addFeature(NS_COMMANDS);
    mod.iq('set', NS_COMMANDS, 'command', ({ from, stanza }) => {
      const request = stanza.getChild('command', NS_COMMANDS);
      if (!request) throw stanzaError('CANTO_ERR_BAD_REQUEST', 'no <command/>');
      return engine.handle(from, request).catch((err: unknown) => {
        if (!(err instanceof StanzaError)) throw err;
        // XEP-0050 §4.6 errors echo the <command/> (node, sessionid): clients such as slixmpp
        // find the session an error belongs to by it.
        const answer = err.replyTo(stanza);
        const echo = new Element('command', { xmlns: NS_COMMANDS, node: request.attrs.node, sessionid: request.attrs.sessionid, action: request.attrs.action });
        answer.children.unshift(echo);
        echo.parent = answer;
        return answer;
      });
    });

    // disco#items of the commands node: what this requester may run (XEP-0050 §2.2).
    mod.hook('disco-items-node', ({ to, from, node, items }) => {
      if (node !== NS_COMMANDS || to.local !== '') return undefined;
      for (const c of commands.values()) if (mayRun(c, from)) items.push({ jid: mod.host, node: c.node, name: c.name });
      return true;
    });
    // disco#info of one command (§2.3): only for those who may run it.
    mod.hook('disco-info-node', ({ to, from, node, query }) => {
      if (to.local !== '') return undefined;
      if (node === NS_COMMANDS) {
        query.c('identity', { category: 'automation', type: 'command-list', name: 'Commands' });
        return true;
      }
      const c = commands.get(node);
      if (!c || !mayRun(c, from)) return undefined;
      query.c('identity', { category: 'automation', type: 'command-node', name: c.name });
      query.c('feature', { var: NS_COMMANDS });
      query.c('feature', { var: NS_DATA });
      return true;
    });

    for (const c of [...userCommands(mod), ...adminCommands(mod)]) mod.onUnload(service.register(c));
  },
});
