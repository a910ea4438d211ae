/**
 * The registry of built-in modules, by name. The server is given this map; the core never
 * imports a module itself. Add a new module here and it can be named in `modules_enabled`.
 * Next to it, the top-level config tables the modules own (the listeners), which the config
 * parser is given (src/app/config.ts).
 */
import type { ConfigTables } from '../core/config-tables.js';
import type { ModuleDefinition, ModuleRegistry } from '../core/modules.js';
import c2s from './c2s/index.js';
import component from './component/index.js';
import tls from './tls/index.js';
import bind from './bind/index.js';
import register from './register/index.js';
import saslauth from './saslauth/index.js';
import message from './message/index.js';
import offline from './offline/index.js';
import iq from './iq/index.js';
import disco from './disco/index.js';
import ping from './ping/index.js';
import version from './version/index.js';
import time from './time/index.js';
import last from './last/index.js';
import contact from './contact/index.js';
import vcard from './vcard/index.js';
import privateStorage from './private/index.js';
import blocking from './blocking/index.js';
import roster from './roster/index.js';
import presence from './presence/index.js';
import s2s from './s2s/index.js';
import http from './http/index.js';
import websocket from './websocket/index.js';
import hostmeta from './hostmeta/index.js';
import bosh from './bosh/index.js';
import carbons from './carbons/index.js';
import csi from './csi/index.js';
import mam from './mam/index.js';
import smacks from './smacks/index.js';
import caps from './caps/index.js';
import pubsub from './pubsub/index.js';
import pep from './pep/index.js';
import avatar from './avatar/index.js';
import bookmarks from './bookmarks/index.js';
import adminsocket from './adminsocket/index.js';
import push from './push/index.js';
import upload from './upload/index.js';
import externalServices from './external_services/index.js';
import muc from './muc/index.js';
import sasl2 from './sasl2/index.js';
import fast from './fast/index.js';
import adhoc from './adhoc/index.js';
import accountState from './account_state/index.js';
import invites from './invites/index.js';
import metrics from './metrics/index.js';
import acme from './acme/index.js';
import adminApi from './admin_api/index.js';
import adminConsole from './admin_console/index.js';
import rtbl from './rtbl/index.js';
import stranger from './stranger/index.js';
import spamReporting from './spam_reporting/index.js';
import limits from './limits/index.js';
import { c2sTable } from './c2s/config.js';
import { s2sTable } from './s2s/config.js';
import { componentListenerTable } from './component/config.js';
import { httpTable } from './http/config.js';
import { acmeTable } from './acme/config.js';

const builtins: ModuleDefinition[] = [c2s, component, tls, bind, register, saslauth, message, offline, iq, disco, ping, version, time, last, contact, vcard, privateStorage, blocking, roster, presence, s2s, http, websocket, hostmeta, bosh, carbons, csi, mam, smacks, caps, pubsub, pep, avatar, bookmarks, adminsocket, push, upload, externalServices, muc, sasl2, fast, adhoc, accountState, invites, metrics, acme, adminApi, adminConsole, rtbl, stranger, spamReporting, limits];

export const builtinModules: ModuleRegistry = new Map(builtins.map((m) => [m.name, m]));

/**
 * `[c2s]`, `[s2s]`, `[component_listener]`, `[http]`: each table's schema, port keys, path keys
 * and checks, declared in its module's config.ts. In the order the docs list them, which is the
 * order port clashes are looked for.
 */
export const builtinConfigTables: ConfigTables = {
  c2s: c2sTable,
  s2s: s2sTable,
  component_listener: componentListenerTable,
  http: httpTable,
  acme: acmeTable,
};
