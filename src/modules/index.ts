/**
 * The registry of built-in modules, by name. The server is given this map; the core never
 * imports a module itself. Add a new module here and it can be named in `modules_enabled`.
 */
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

const builtins: ModuleDefinition[] = [c2s, component, tls, bind, register, saslauth, message, offline, iq, disco, ping, version, time, last, contact, vcard, privateStorage, blocking, roster, presence, s2s, http, websocket, hostmeta, bosh];

export const builtinModules: ModuleRegistry = new Map(builtins.map((m) => [m.name, m]));
