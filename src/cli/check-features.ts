/**
 * `canto check features`: which XEP-0479 (XMPP Compliance Suites 2023) server items does the
 * running server offer? Logs in over loopback on the configured c2s port as a given account
 * (`--jid`, `--password`) or as a throwaway one created in the configured storage and deleted
 * afterwards, and for each item records whether the server *advertises* it (stream features,
 * disco#info on the server and on the account, disco#items for components) and, where a small
 * live check is cheap, *proves* it (the IQ is answered, SM is enabled, a room is created and
 * destroyed, …). Each missing item says what to change in the configuration.
 *
 * Exit 0 when every item an Advanced server needs in the Core, IM and Mobile suites passes,
 * 1 otherwise. Extra items (SASL2, FAST, ping, external services…) are reported but do not
 * decide the exit code.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { CantoConfig } from '../core/config.js';
import { Element } from '../xml/element.js';
import { NS } from '../xml/ns.js';
import { openStorage, storageDriverEntry } from '../storage/registry.js';
import { silentLogger } from '../core/logging.js';
import { makeCredentials } from '../sasl/scram-credentials.js';
import { FeatureClient, iqError, type FeatureClientOptions } from './feature-client.js';
import { accountJid } from './accounts.js';
import { readPassword } from './prompt.js';
import { CommandFailed, UsageError } from './errors.js';

/** The lowest server level of a suite that requires an item (Advanced includes Core). */
export type Level = 'core' | 'advanced';
export type Status = 'proven' | 'advertised' | 'missing' | 'failed';

export interface ItemResult {
  id: string;
  name: string;
  spec: string;
  /** XEP-0479's columns: Core, IM and Mobile suites; absent = not in that suite. */
  suites: { core?: Level; im?: Level; mobile?: Level };
  status: Status;
  detail: string;
  /** What to change in the configuration, for an item that is missing or failed. */
  hint?: string;
}

export interface FeaturesReport {
  host: string;
  account: string;
  /** The SASL mechanism the check logged in with (SCRAM-SHA-256-PLUS, SCRAM-SHA-256 or PLAIN). */
  mechanism: string;
  items: ItemResult[];
  /** For each suite: does the server pass it at Core and at Advanced level? */
  suites: Record<'core' | 'im' | 'mobile', { core: boolean; advanced: boolean }>;
  advanced: boolean;
}

const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
const NS_MUC = 'http://jabber.org/protocol/muc';
const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
const NS_UPLOAD = 'urn:xmpp:http:upload:0';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
const CHECK_NODE = 'urn:canto:check-features:0';
const FEATURE_SELF_PING = 'http://jabber.org/protocol/muc#self-ping-optimization';

interface Disco {
  features: Set<string>;
  identities: Array<{ category: string; type: string }>;
}

function passes(s: Status): boolean {
  return s === 'proven' || s === 'advertised';
}

export async function runCheckFeatures(config: CantoConfig, opts: { jid?: string; password?: string; host?: string; json: boolean }): Promise<number> {
  const timeoutMs = 10_000;
  const port = config.c2s.ports[0];
  if (port === undefined) throw new CommandFailed('[c2s] ports is empty: there is no client port to connect to');
  const connectHost = loopbackFor(config.c2s.interfaces[0]);
  let domain: string;
  let username: string;
  let password: string;
  let cleanup: (() => Promise<void>) | undefined;
  if (opts.jid !== undefined) {
    const j = accountJid(config, opts.jid);
    if (opts.host !== undefined && opts.host !== j.domain) throw new UsageError('--host and the domain of --jid differ');
    domain = j.domain;
    username = j.local;
    password = opts.password ?? (await readPassword('Password: ', false).catch((err: unknown) => {
      throw new CommandFailed((err as Error).message);
    }));
  } else {
    if (opts.password !== undefined) throw new UsageError('--password goes with --jid');
    domain = opts.host ?? config.virtualhost[0]?.domain ?? 'localhost';
    accountJid(config, `x@${domain}`); // is it one of ours?
    ({ username, password, cleanup } = await throwawayAccount(config, domain));
  }
  let report: FeaturesReport;
  try {
    report = await checkFeatures(config, { host: connectHost, port, domain, username, password, timeoutMs });
  } finally {
    await cleanup?.();
  }
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.advanced ? 0 : 1;
}

/** A listener's interface → the address to reach it on this machine. */
function loopbackFor(iface: string | undefined): string {
  if (iface === undefined || iface === '*' || iface === '0.0.0.0') return '127.0.0.1';
  if (iface === '::') return '::1';
  return iface;
}

/** An account made for this check in the configured storage; the cleanup deletes it and all its data. */
async function throwawayAccount(config: CantoConfig, domain: string): Promise<{ username: string; password: string; cleanup: () => Promise<void> }> {
  if (!storageDriverEntry(config).persistent) {
    throw new CommandFailed(`storage driver "${config.storage.driver}" is not shared with the running server: give an account with --jid and --password`);
  }
  const username = `check-features-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  const storage = await openStorage(config, silentLogger());
  try {
    const created = await storage.accounts.create(domain, username, makeCredentials(password, { iterations: config.auth.scram_iterations, hashes: config.auth.scram_hashes }));
    if (!created) throw new CommandFailed(`could not create the throwaway account ${username}@${domain}`);
  } finally {
    await storage.close();
  }
  return {
    username,
    password,
    cleanup: async () => {
      const s = await openStorage(config, silentLogger());
      try {
        await s.accounts.delete(domain, username);
      } finally {
        await s.close();
      }
    },
  };
}

/** Where and as whom to log in: what the feature client takes. */
type Target = FeatureClientOptions;

/** Log in and check every item; the account must exist. */
export async function checkFeatures(config: CantoConfig, t: Target): Promise<FeaturesReport> {
  let c: FeatureClient;
  try {
    c = await FeatureClient.connect(t);
  } catch (err) {
    throw new CommandFailed(`could not log in to ${t.host}:${t.port} as ${t.username}@${t.domain} (is the server running with this configuration?): ${(err as Error).message}`);
  }
  const items: ItemResult[] = [];
  const add = (r: ItemResult) => items.push(r);
  const moduleHint = (module: string) => enableHint(config, t.domain, module);
  try {
    const bare = `${t.username}@${t.domain}`;
    const serverInfo = await disco(c, t.domain);
    const accountInfo = await disco(c, bare);
    const streamFeatures = c.features ?? new Element('features');
    const pre = c.preAuthFeatures ?? new Element('features');
    const components = await componentsOf(c, t.domain);

    const check = async (id: string, f: () => Promise<{ status: Status; detail: string }>): Promise<{ status: Status; detail: string }> => {
      try {
        return await f();
      } catch (err) {
        return { status: 'failed', detail: `${id}: ${(err as Error).message}` };
      }
    };
    const iqOk = async (iq: Element, what: string): Promise<{ status: Status; detail: string }> => {
      const r = await c.iq(iq);
      const e = iqError(r);
      return e === undefined ? { status: 'proven', detail: `${what}: result` } : { status: 'failed', detail: `${what}: error ${e}` };
    };

    // The suite columns below (which suite needs an item, at Core or only at Advanced level) are
    // this module's reading of XEP-0479's server tables (version 0.1.0, 2023-05-04), checked
    // against the text; they are all in the `suites` fields here. Readings to know:
    // - The IM and Mobile suites say "all features from the core compliance category must be
    //   met", so every Core-suite item is also listed in those two columns, at the same level.
    // - "Server" is read as 'core' here and "Advanced Server" as 'advanced' (XEP-0479 renamed
    //   "Core Server" to "Server").
    // - Items XEP-0479 lists that this check does not test: Advanced Group Chat's XEP-0048,
    //   XEP-0313 on rooms and XEP-0049/XEP-0223 (IM, Advanced), the Web suite (BOSH/WebSocket),
    //   and the A/V Calling suite (XEP-0215, reported below as an extra item).
    // ── Core suite ──
    const core = { core: 'core', im: 'core', mobile: 'core' } as const;
    const coreAdvanced = { core: 'advanced', im: 'advanced', mobile: 'advanced' } as const;
    add({ id: 'core', name: 'Core features (TLS, SASL)', spec: 'RFC 6120', suites: core, status: 'proven', detail: `logged in with STARTTLS and SASL ${c.mechanism ?? '?'}` });
    add({
      id: 'direct-tls', name: 'Direct TLS', spec: 'XEP-0368', suites: coreAdvanced,
      ...(await check('direct-tls', () => directTls(config, t))),
      hint: 'set [c2s] direct_tls_ports (e.g. [5223]) and publish an _xmpps-client._tcp SRV record',
    });
    add({ id: 'disco', name: 'Feature discovery', spec: 'XEP-0030', suites: core, status: serverInfo ? 'proven' : 'missing', detail: serverInfo ? `disco#info on ${t.domain}: result` : 'no disco#info answer', hint: moduleHint('disco') });
    const caps = streamFeatures.getChild('c', 'http://jabber.org/protocol/caps');
    // "Feature broadcasts": not required of a Server, only of an Advanced Server.
    add({ id: 'caps', name: 'Entity capabilities', spec: 'XEP-0115', suites: coreAdvanced, status: caps ? 'advertised' : 'missing', detail: caps ? `stream feature with ver ${caps.attr('ver') ?? '?'}` : 'no caps stream feature', hint: moduleHint('caps') });
    add({
      // "Server Extensibility": required of a Server already, not only of an Advanced one.
      id: 'components', name: 'Server extensibility (external components)', spec: 'XEP-0114', suites: core,
      ...(await check('components', () => componentListener(config))),
      hint: 'add a [[component]] with domain and secret for each external component (the listener, [component_listener] ports, opens only then)',
    });
    const pepAdvertised = accountInfo?.identities.some((i) => i.category === 'pubsub' && i.type === 'pep') ?? false;
    add({
      // "Event publishing": Advanced Server only; the IM and Mobile tables do not list it apart.
      id: 'pep', name: 'Personal eventing (PEP)', spec: 'XEP-0163', suites: coreAdvanced,
      ...(pepAdvertised ? await check('pep', () => pepRoundTrip(c)) : { status: 'missing' as const, detail: `no pubsub/pep identity on ${bare}` }),
      hint: moduleHint('pep'),
    });

    // ── IM suite ──
    const rosterver = streamFeatures.getChild('ver', 'urn:xmpp:features:rosterver');
    add({
      id: 'rosterver', name: 'Roster versioning', spec: 'RFC 6121', suites: { im: 'core' },
      ...(rosterver ? await check('rosterver', () => iqOk(new Element('iq', { type: 'get' }).c('query', { xmlns: 'jabber:iq:roster', ver: '' }).root(), 'versioned roster get')) : { status: 'missing' as const, detail: 'no rosterver stream feature' }),
      hint: moduleHint('roster'),
    });
    add(await iqItem(c, check, accountInfo, serverInfo, {
      // "Outbound Message Synchronization": IM only (the Mobile table does not list it).
      id: 'carbons', name: 'Message carbons', spec: 'XEP-0280', suites: { im: 'core' }, feature: 'urn:xmpp:carbons:2', module: 'carbons', config, domain: t.domain,
      iq: () => new Element('iq', { type: 'set' }).c('enable', { xmlns: 'urn:xmpp:carbons:2' }).root(), what: 'carbons enable',
    }));
    add(await iqItem(c, check, accountInfo, serverInfo, {
      // "User Blocking": Advanced Server only, IM only.
      id: 'blocking', name: 'Blocking command', spec: 'XEP-0191', suites: { im: 'advanced' }, feature: 'urn:xmpp:blocking', module: 'blocking', config, domain: t.domain,
      iq: () => new Element('iq', { type: 'get' }).c('blocklist', { xmlns: 'urn:xmpp:blocking' }).root(), what: 'blocklist get',
    }));
    add(await iqItem(c, check, accountInfo, serverInfo, {
      id: 'vcard', name: 'vCard storage', spec: 'XEP-0054', suites: { im: 'core' }, feature: 'vcard-temp', module: 'vcard', config, domain: t.domain,
      iq: () => new Element('iq', { type: 'get' }).c('vCard', { xmlns: 'vcard-temp' }).root(), what: 'vCard get',
    }));
    const muc = components.find((x) => x.info.identities.some((i) => i.category === 'conference' && i.type === 'text'));
    const mucHint = `add a [[component]] with domain = "conference.${t.domain}" and module = "muc"`;
    let selfPing: { status: Status; detail: string } = { status: 'missing', detail: 'no chat room service' };
    add({
      id: 'muc', name: 'Multi-user chat', spec: 'XEP-0045', suites: { im: 'core' },
      ...(muc
        ? await check('muc', async () => {
          const r = await mucRoundTrip(c, muc.jid);
          selfPing = r.selfPing;
          return r;
        })
        : { status: 'missing' as const, detail: `no conference/text service in disco#items of ${t.domain}` }),
      hint: mucHint,
    });
    add({ id: 'muc-self-ping', name: 'MUC self-ping', spec: 'XEP-0410', suites: { im: 'advanced' }, ...selfPing, hint: mucHint });
    const smFeature = streamFeatures.getChild('sm', 'urn:xmpp:sm:3');
    const smResult: { status: Status; detail: string } = smFeature ? { status: 'advertised', detail: 'sm:3 stream feature' } : { status: 'missing', detail: 'no sm:3 stream feature' };
    // Stream Management: IM asks it of an Advanced Server only, Mobile of every Server.
    const smItem: ItemResult = { id: 'sm', name: 'Stream management', spec: 'XEP-0198', suites: { im: 'advanced', mobile: 'core' }, ...smResult, hint: moduleHint('smacks') };
    add(smItem);
    add(await iqItem(c, check, accountInfo, serverInfo, {
      // "History Storage / Retrieval": IM, Advanced Server (the Mobile table does not list it).
      id: 'mam', name: 'Message archive management', spec: 'XEP-0313', suites: { im: 'advanced' }, feature: 'urn:xmpp:mam:2', module: 'mam', config, domain: t.domain,
      iq: () => new Element('iq', { type: 'set' }).c('query', { xmlns: 'urn:xmpp:mam:2', queryid: 'check' }).c('set', { xmlns: 'http://jabber.org/protocol/rsm' }).c('max').t('1').root(), what: 'MAM query',
      expect: (r) => (r.getChild('fin', 'urn:xmpp:mam:2') ? undefined : 'no <fin/> in the result'),
    }));
    const upload = components.find((x) => x.info.features.has(NS_UPLOAD));
    add({
      // "File Upload": required of an IM Server already (as a component or module).
      id: 'upload', name: 'HTTP file upload', spec: 'XEP-0363', suites: { im: 'core' },
      ...(upload ? await check('upload', () => uploadSlot(c, upload.jid)) : { status: 'missing' as const, detail: `no ${NS_UPLOAD} service in disco#items of ${t.domain}` }),
      hint: `add a [[component]] with domain = "upload.${t.domain}" and module = "upload" (served by the [http] listeners: http.tls_ports, or a TLS proxy in front)`,
    });
    const conversion = accountInfo?.features.has('urn:xmpp:pep-vcard-conversion:0') || serverInfo?.features.has('urn:xmpp:pep-vcard-conversion:0');
    add({ id: 'avatar-conversion', name: 'User avatar to vCard conversion', spec: 'XEP-0398', suites: { im: 'advanced' }, status: conversion ? 'advertised' : 'missing', detail: conversion ? 'urn:xmpp:pep-vcard-conversion:0 advertised' : 'not advertised', hint: moduleHint('avatar') });
    const bookmarks = accountInfo?.features.has('urn:xmpp:bookmarks:1#compat') ?? false;
    add({ id: 'bookmarks', name: 'PEP native bookmarks (with compatibility)', spec: 'XEP-0402', suites: { im: 'advanced' }, status: bookmarks ? 'advertised' : 'missing', detail: bookmarks ? `urn:xmpp:bookmarks:1#compat on ${bare}` : 'not advertised', hint: moduleHint('bookmarks') });

    // ── Mobile suite ──
    const csi = streamFeatures.getChild('csi', 'urn:xmpp:csi:0');
    add({ id: 'csi', name: 'Client state indication', spec: 'XEP-0352', suites: { mobile: 'core' }, status: csi ? 'advertised' : 'missing', detail: csi ? 'csi stream feature' : 'no csi stream feature', hint: moduleHint('csi') });
    const pushFeature = accountInfo?.features.has('urn:xmpp:push:0') ?? false;
    add({
      id: 'push', name: 'Push notifications', spec: 'XEP-0357', suites: { mobile: 'advanced' },
      ...(pushFeature ? await check('push', () => pushRoundTrip(c, t.domain)) : { status: 'missing' as const, detail: `urn:xmpp:push:0 not advertised on ${bare}` }),
      hint: moduleHint('push'),
    });

    // ── Not in XEP-0479's server columns, reported for the operator ──
    add(await iqItem(c, check, accountInfo, serverInfo, {
      id: 'ping', name: 'XMPP ping', spec: 'XEP-0199', suites: {}, feature: 'urn:xmpp:ping', module: 'ping', config, domain: t.domain,
      iq: () => new Element('iq', { type: 'get', to: t.domain }).c('ping', { xmlns: 'urn:xmpp:ping' }).root(), what: 'ping',
    }));
    const sasl2 = pre.getChild('authentication', 'urn:xmpp:sasl:2');
    const inline = sasl2?.getChild('inline');
    add({ id: 'sasl2', name: 'Extensible SASL profile (SASL2)', spec: 'XEP-0388', suites: {}, status: sasl2 ? 'advertised' : 'missing', detail: sasl2 ? 'sasl:2 stream feature' : 'no sasl:2 stream feature', hint: moduleHint('sasl2') });
    const bind2 = inline?.getChild('bind', 'urn:xmpp:bind:0');
    add({ id: 'bind2', name: 'Bind 2', spec: 'XEP-0386', suites: {}, status: bind2 ? 'advertised' : 'missing', detail: bind2 ? 'inline in SASL2' : 'not inline in SASL2', hint: moduleHint('sasl2') });
    const fast = inline?.getChild('fast', 'urn:xmpp:fast:0');
    add({ id: 'fast', name: 'Fast authentication streamlining tokens (FAST)', spec: 'XEP-0484', suites: {}, status: fast ? 'advertised' : 'missing', detail: fast ? 'inline in SASL2' : 'not inline in SASL2', hint: moduleHint('fast') });
    // XEP-0479's A/V Calling suite requires it of every Server; that suite is not one of the three judged here.
    add({
      id: 'external-services', name: 'External service discovery (STUN/TURN; A/V Calling suite)', spec: 'XEP-0215', suites: {},
      ...(await check('external-services', () => externalServices(c, t.domain))),
      hint: `${enabledIn(config, t.domain, 'external_services') ? '' : `add "external_services" to modules_enabled and `}list the STUN/TURN servers in [modules.external_services] services`,
    });

    // Last: once SM is on, the server asks for acks, so nothing is sent on this stream after it.
    if (smFeature) {
      const r = await check('sm', async () => {
        c.send(`<enable xmlns='urn:xmpp:sm:3'/>`);
        const answer = await c.next((el) => el.xmlns === 'urn:xmpp:sm:3' && (el.name === 'enabled' || el.name === 'failed'), 'SM enable');
        return answer.name === 'enabled' ? { status: 'proven', detail: 'enable: enabled' } : { status: 'failed', detail: 'enable: failed' };
      });
      smItem.status = r.status;
      smItem.detail = r.detail;
    }
  } finally {
    await c.close();
  }
  for (const item of items) if (passes(item.status)) delete item.hint;
  const suiteResult = (suite: 'core' | 'im' | 'mobile') => {
    const inSuite = items.filter((i) => i.suites[suite] !== undefined);
    return {
      core: inSuite.filter((i) => i.suites[suite] === 'core').every((i) => passes(i.status)),
      advanced: inSuite.every((i) => passes(i.status)),
    };
  };
  const suites = { core: suiteResult('core'), im: suiteResult('im'), mobile: suiteResult('mobile') };
  return { host: t.domain, account: `${t.username}@${t.domain}`, mechanism: c.mechanism ?? '?', items, suites, advanced: suites.core.advanced && suites.im.advanced && suites.mobile.advanced };
}

function enabledIn(config: CantoConfig, domain: string, module: string): boolean {
  const vh = config.virtualhost.find((v) => v.domain === domain);
  if (vh?.modules_disabled.includes(module)) return false;
  return config.modules_enabled.includes(module) || (vh?.modules_enabled.includes(module) ?? false);
}

/** What to change so that `module` runs for `domain`. */
function enableHint(config: CantoConfig, domain: string, module: string): string {
  const vh = config.virtualhost.find((v) => v.domain === domain);
  if (vh?.modules_disabled.includes(module)) return `remove "${module}" from modules_disabled of the [[virtualhost]] ${domain}`;
  if (config.modules_enabled.includes(module) || vh?.modules_enabled.includes(module)) {
    return `"${module}" is in modules_enabled of this configuration: is the server running it? (canto reload)`;
  }
  return `add "${module}" to modules_enabled`;
}

async function disco(c: FeatureClient, to: string, node?: string): Promise<Disco | undefined> {
  const r = await c.iq(new Element('iq', { type: 'get', to }).c('query', { xmlns: DISCO_INFO, node }).root());
  if (iqError(r) !== undefined) return undefined;
  const q = r.getChild('query', DISCO_INFO);
  return {
    features: new Set(q?.getChildren('feature').map((f) => f.attr('var') ?? '') ?? []),
    identities: q?.getChildren('identity').map((i) => ({ category: i.attr('category') ?? '', type: i.attr('type') ?? '' })) ?? [],
  };
}

/** The server's disco#items, each with its disco#info. */
async function componentsOf(c: FeatureClient, domain: string): Promise<Array<{ jid: string; info: Disco }>> {
  const r = await c.iq(new Element('iq', { type: 'get', to: domain }).c('query', { xmlns: DISCO_ITEMS }).root());
  if (iqError(r) !== undefined) return [];
  const jids = r.getChild('query', DISCO_ITEMS)?.getChildren('item').map((i) => i.attr('jid') ?? '').filter((j) => j !== '') ?? [];
  const out: Array<{ jid: string; info: Disco }> = [];
  for (const jid of jids.slice(0, 20)) {
    const info = await disco(c, jid);
    if (info) out.push({ jid, info });
  }
  return out;
}

interface IqItemSpec {
  id: string;
  name: string;
  spec: string;
  suites: ItemResult['suites'];
  feature: string;
  module: string;
  config: CantoConfig;
  domain: string;
  iq: () => Element;
  what: string;
  expect?: (result: Element) => string | undefined;
}

/** An item advertised as a disco feature (server or account) and proven by one IQ. */
async function iqItem(
  c: FeatureClient,
  check: (id: string, f: () => Promise<{ status: Status; detail: string }>) => Promise<{ status: Status; detail: string }>,
  accountInfo: Disco | undefined,
  serverInfo: Disco | undefined,
  s: IqItemSpec,
): Promise<ItemResult> {
  const base = { id: s.id, name: s.name, spec: s.spec, suites: s.suites, hint: enableHint(s.config, s.domain, s.module) };
  const advertised = (accountInfo?.features.has(s.feature) ?? false) || (serverInfo?.features.has(s.feature) ?? false);
  if (!advertised) return { ...base, status: 'missing', detail: `${s.feature} not advertised` };
  const r = await check(s.id, async () => {
    const answer = await c.iq(s.iq());
    const e = iqError(answer);
    if (e !== undefined) return { status: 'failed', detail: `${s.what}: error ${e}` };
    const problem = s.expect?.(answer);
    return problem === undefined ? { status: 'proven', detail: `${s.what}: result` } : { status: 'failed', detail: `${s.what}: ${problem}` };
  });
  return { ...base, ...r };
}

async function pepRoundTrip(c: FeatureClient): Promise<{ status: Status; detail: string }> {
  const itemId = randomBytes(4).toString('hex');
  const publish = new Element('iq', { type: 'set' }).c('pubsub', { xmlns: NS_PUBSUB }).c('publish', { node: CHECK_NODE }).c('item', { id: itemId }).c('check', { xmlns: CHECK_NODE }).root();
  const p = await c.iq(publish);
  if (iqError(p) !== undefined) return { status: 'failed', detail: `publish: error ${iqError(p) ?? ''}` };
  const got = await c.iq(new Element('iq', { type: 'get' }).c('pubsub', { xmlns: NS_PUBSUB }).c('items', { node: CHECK_NODE }).c('item', { id: itemId }).root());
  const found = got.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChildren('item').some((i) => i.attr('id') === itemId) ?? false;
  await c.iq(new Element('iq', { type: 'set' }).c('pubsub', { xmlns: NS_PUBSUB_OWNER }).c('delete', { node: CHECK_NODE }).root());
  return found ? { status: 'proven', detail: 'published, retrieved and deleted a node' } : { status: 'failed', detail: 'the published item was not retrieved' };
}

/** Create a room, check XEP-0410 self-ping in it (advertised on the room, answered), destroy it. */
async function mucRoundTrip(c: FeatureClient, service: string): Promise<{ status: Status; detail: string; selfPing: { status: Status; detail: string } }> {
  const room = `check-features-${randomBytes(5).toString('hex')}@${service}`;
  const occupant = `${room}/check`;
  const presence = new Element('presence', { xmlns: NS.client, to: occupant }).c('x', { xmlns: NS_MUC }).root();
  c.send(presence);
  const self = await c.next((el) => el.name === 'presence' && (el.attr('from') ?? '').toLowerCase() === occupant.toLowerCase(), `room presence from ${occupant}`);
  const noRoom = { status: 'missing' as const, detail: 'no room could be made' };
  if (self.attr('type') === 'error') return { status: 'failed', detail: `join ${room}: error ${iqError(self) ?? ''}`, selfPing: noRoom };
  const created = self.getChild('x', `${NS_MUC}#user`)?.getChildren('status').some((s) => s.attr('code') === '201') ?? false;
  let selfPing: { status: Status; detail: string } = { status: 'missing', detail: `${FEATURE_SELF_PING} not advertised by the room` };
  if ((await disco(c, room))?.features.has(FEATURE_SELF_PING)) {
    const pong = await c.iq(new Element('iq', { type: 'get', to: occupant }).c('ping', { xmlns: 'urn:xmpp:ping' }).root());
    const e = iqError(pong);
    selfPing = e === undefined ? { status: 'proven', detail: 'advertised by the room; self-ping: result' } : { status: 'failed', detail: `self-ping: error ${e}` };
  }
  const destroy = await c.iq(new Element('iq', { type: 'set', to: room }).c('query', { xmlns: NS_MUC_OWNER }).c('destroy').root());
  if (iqError(destroy) !== undefined) return { status: 'failed', detail: `destroy ${room}: error ${iqError(destroy) ?? ''}`, selfPing };
  return created ? { status: 'proven', detail: `created and destroyed a room on ${service}`, selfPing } : { status: 'failed', detail: `joined ${room} but it was not new (no status 201)`, selfPing };
}

async function uploadSlot(c: FeatureClient, service: string): Promise<{ status: Status; detail: string }> {
  const r = await c.iq(new Element('iq', { type: 'get', to: service }).c('request', { xmlns: NS_UPLOAD, filename: 'check.txt', size: '1', 'content-type': 'text/plain' }).root());
  const e = iqError(r);
  if (e !== undefined) return { status: 'failed', detail: `slot request to ${service}: error ${e}` };
  const put = r.getChild('slot', NS_UPLOAD)?.getChild('put')?.attr('url');
  return put ? { status: 'proven', detail: `slot from ${service}` } : { status: 'failed', detail: `no slot from ${service}` };
}

async function pushRoundTrip(c: FeatureClient, domain: string): Promise<{ status: Status; detail: string }> {
  // A made-up app server in the .invalid TLD (RFC 2606): nothing is ever delivered, and it is disabled right away.
  const jid = `push-check.${domain}.invalid`;
  const node = randomBytes(6).toString('hex');
  const on = await c.iq(new Element('iq', { type: 'set' }).c('enable', { xmlns: 'urn:xmpp:push:0', jid, node }).root());
  if (iqError(on) !== undefined) return { status: 'failed', detail: `enable: error ${iqError(on) ?? ''}` };
  const off = await c.iq(new Element('iq', { type: 'set' }).c('disable', { xmlns: 'urn:xmpp:push:0', jid, node }).root());
  if (iqError(off) !== undefined) return { status: 'failed', detail: `disable: error ${iqError(off) ?? ''}` };
  return { status: 'proven', detail: 'enable and disable: result' };
}

async function externalServices(c: FeatureClient, domain: string): Promise<{ status: Status; detail: string }> {
  const r = await c.iq(new Element('iq', { type: 'get', to: domain }).c('services', { xmlns: 'urn:xmpp:extdisco:2' }).root());
  if (iqError(r) !== undefined) return { status: 'missing', detail: `services request: error ${iqError(r) ?? ''}` };
  const types = r.getChild('services', 'urn:xmpp:extdisco:2')?.getChildren('service').map((s) => s.attr('type') ?? '?') ?? [];
  return types.length > 0 ? { status: 'proven', detail: `services: ${[...new Set(types)].join(', ')}` } : { status: 'missing', detail: 'no services listed' };
}

/** Direct TLS: a TLS connection (ALPN xmpp-client) to the first direct_tls port that opens a stream. */
async function directTls(config: CantoConfig, t: Target): Promise<{ status: Status; detail: string }> {
  const port = config.c2s.direct_tls_ports[0];
  if (port === undefined) return { status: 'missing', detail: '[c2s] direct_tls_ports is empty' };
  const features = await new Promise<boolean>((resolve, reject) => {
    const s = tlsConnect({ host: t.host, port, servername: t.domain, rejectUnauthorized: false, ALPNProtocols: ['xmpp-client'] }, () => {
      s.write(`<?xml version='1.0'?><stream:stream to='${t.domain}' version='1.0' xmlns='jabber:client' xmlns:stream='${NS.stream}'>`);
    });
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no stream on port ${port} within ${t.timeoutMs} ms`));
    }, t.timeoutMs);
    s.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (text.includes('features')) {
        clearTimeout(timer);
        s.destroy();
        resolve(true);
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return features ? { status: 'proven', detail: `TLS stream on port ${port}` } : { status: 'failed', detail: `no stream on port ${port}` };
}

/** XEP-0114: is the component listener accepting connections? */
async function componentListener(config: CantoConfig): Promise<{ status: Status; detail: string }> {
  const port = config.component_listener.ports[0];
  if (port === undefined) return { status: 'missing', detail: '[component_listener] ports is empty' };
  // The listener is opened only when some [[component]] has a secret (an external one).
  if (!config.component.some((x) => x.secret !== undefined)) return { status: 'missing', detail: 'no [[component]] with a secret: the component listener is not opened' };
  const host = loopbackFor(config.component_listener.interfaces[0]);
  await new Promise<void>((resolve, reject) => {
    const s = netConnect({ host, port }, () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
  return { status: 'proven', detail: `listening on ${host}:${port}` };
}

const COLUMN: Record<Level, string> = { core: 'C', advanced: 'A' };

export function formatReport(r: FeaturesReport): string {
  const lines: string[] = [];
  lines.push(`XEP-0479 (Compliance Suites 2023) server items on ${r.host}, checked as ${r.account} (logged in with ${r.mechanism})`);
  lines.push('C = required of a Core server, A = of an Advanced server only, - = not in that suite');
  lines.push('');
  const width = Math.max(...r.items.map((i) => `${i.spec} ${i.name}`.length));
  lines.push(`${'item'.padEnd(width)}  Core IM Mobile  result`);
  for (const i of r.items) {
    const col = (l: Level | undefined) => (l ? COLUMN[l] : '-');
    lines.push(`${`${i.spec} ${i.name}`.padEnd(width)}  ${col(i.suites.core).padEnd(4)} ${col(i.suites.im).padEnd(2)} ${col(i.suites.mobile).padEnd(6)}  ${i.status.padEnd(10)} ${i.detail}`);
  }
  const missing = r.items.filter((i) => !passes(i.status));
  if (missing.length > 0) {
    lines.push('');
    lines.push('To change:');
    for (const i of missing) lines.push(`  ${i.spec} ${i.name}: ${i.hint ?? '(no hint)'}`);
  }
  lines.push('');
  const verdict = (ok: boolean) => (ok ? 'pass' : 'FAIL');
  for (const [name, key] of [['Core', 'core'], ['IM', 'im'], ['Mobile', 'mobile']] as const) {
    lines.push(`${name.padEnd(7)} suite: Core server ${verdict(r.suites[key].core)}, Advanced server ${verdict(r.suites[key].advanced)}`);
  }
  return `${lines.join('\n')}\n`;
}
