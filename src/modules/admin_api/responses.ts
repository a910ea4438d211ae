/**
 * The admin API's success bodies, as zod schemas: the route table (routes.ts) names one per route
 * that answers with a body, and the OpenAPI description (openapi.ts) is made from them, so the
 * document says what the handlers return. A test (test/integration/admin-api-openapi.test.ts)
 * checks real answers of every route against the served document. Times are ms since the epoch
 * unless the name says otherwise.
 */
import { z } from 'zod';

const ms = () => z.number().int().describe('ms since the epoch');

export const whoamiResponse = z.object({
  kind: z.enum(['token', 'session']),
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.string()).describe('area:access, e.g. users:write'),
});

export const statusResponse = z.object({
  version: z.string(),
  node: z.string().describe('The Node.js version'),
  startedAt: z.string().describe('ISO 8601'),
  uptimeSeconds: z.number().int(),
  hosts: z.array(z.object({ host: z.string(), accounts: z.number().int(), sessions: z.number().int().describe('bound client sessions') })),
  components: z.array(z.object({ domain: z.string(), kind: z.enum(['internal', 'external']), connected: z.boolean() })),
  sessions: z.record(z.string(), z.number().int()).describe('open streams by type: c2s, c2s_unauthed, s2s, component, …'),
});

export const checksResponse = z.object({
  ok: z.boolean().describe('false when some check is an error'),
  checks: z.array(z.object({ name: z.string(), status: z.enum(['ok', 'warning', 'error']), detail: z.string() })),
});

const accountStatus = z.enum(['active', 'disabled', 'deletion pending']);

export const usersResponse = z.object({
  total: z.number().int(),
  offset: z.number().int(),
  users: z.array(z.object({ username: z.string(), status: accountStatus })),
});

export const userCreatedResponse = z.object({ jid: z.string(), username: z.string() });

export const userResponse = z.object({
  jid: z.string(),
  status: accountStatus,
  rosterSize: z.number().int(),
  resources: z.array(z.string()).describe('resources of its sessions'),
  ips: z.array(z.string()),
});

export const sessionsResponse = z.object({
  sessions: z.array(z.object({
    jid: z.string(),
    username: z.string(),
    resource: z.string(),
    ip: z.string(),
    secure: z.boolean(),
    hibernating: z.boolean(),
    priority: z.number().int().nullable(),
  })),
});

export const endedResponse = z.object({ ended: z.number().int().describe('sessions ended') });

export const rosterResponse = z.object({
  items: z.array(z.object({
    jid: z.string(),
    name: z.string().nullable(),
    groups: z.array(z.string()),
    subscription: z.enum(['none', 'to', 'from', 'both']),
    ask: z.boolean().describe('a subscription request to the contact is pending'),
  })),
});

export const pushTraceResponse = z.object({
  account: z.string(),
  registrations: z.array(z.object({
    appServer: z.string(),
    node: z.string(),
    resource: z.string(),
    enabledAt: ms(),
    failures: z.number().int(),
    session: z.enum(['connected', 'hibernated', 'none']),
  })),
  entries: z.array(z.object({
    at: ms(),
    registration: z.string().optional(),
    trigger: z.string(),
    what: z.string(),
    decision: z.enum(['sent', 'failed', 'suppressed', 'enabled', 'disabled']),
    reason: z.string().optional(),
    detail: z.string().optional(),
    answer: z.string().optional(),
    latencyMs: z.number().optional(),
    attempts: z.number().int().optional(),
  })).describe('the last push decisions, oldest first'),
});

const invite = z.object({
  token: z.string(),
  created: ms(),
  expires: ms(),
  maxUses: z.number().int(),
  usedBy: z.array(z.string()),
  inviter: z.string().optional(),
  group: z.string().optional(),
  mayInvite: z.boolean().optional(),
  username: z.string().optional(),
  revoked: z.boolean().optional(),
  via: z.string().describe('what made it: api, cli, adhoc, …'),
  uri: z.string().describe('the xmpp: URI (XEP-0401)'),
  url: z.string().describe('the invite web page'),
});

export const invitesResponse = z.object({ invites: z.array(invite) });
export const inviteResponse = invite;

const report = z.object({
  id: z.string(),
  created: ms(),
  host: z.string(),
  reporter: z.string(),
  jid: z.string(),
  reason: z.enum(['spam', 'abuse']),
  text: z.string().optional(),
  refs: z.array(z.object({ kind: z.enum(['stanza-id', 'origin-id']), id: z.string(), by: z.string().optional() })),
  evidence: z.object({ source: z.enum(['archive', 'message-requests', 'room']), stanza: z.string(), when: ms() }).optional(),
  via: z.enum(['block', 'muc']),
  room: z.string().optional(),
  status: z.enum(['open', 'resolved']),
  resolved: z.object({ at: ms(), confirmed: z.boolean(), by: z.string(), published: z.boolean().optional() }).optional(),
});

export const reportsResponse = z.object({ reports: z.array(report) });
export const reportResponse = report;

export const announcementResponse = z.object({ sent: z.number().int().describe('online users it was sent to') });

const room = z.object({
  jid: z.string(),
  name: z.string(),
  description: z.string(),
  persistent: z.boolean(),
  public: z.boolean(),
  membersOnly: z.boolean(),
  locked: z.boolean(),
  occupants: z.number().int(),
  created: ms(),
});

export const roomsResponse = z.object({ rooms: z.array(room) });
export const roomResponse = room;

export const affiliationsResponse = z.object({
  affiliations: z.array(z.object({
    jid: z.string(),
    affiliation: z.enum(['owner', 'admin', 'member', 'none', 'outcast']),
    nick: z.string().optional(),
    reason: z.string().optional(),
  })),
});
