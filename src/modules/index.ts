/**
 * The registry of built-in modules, by name. The server is given this map; the core never
 * imports a module itself. Add a new module here and it can be named in `modules_enabled`.
 */
import type { ModuleDefinition, ModuleRegistry } from '../core/modules.js';
import c2s from './c2s/index.js';
import tls from './tls/index.js';
import bind from './bind/index.js';
import register from './register/index.js';
import saslauth from './saslauth/index.js';
import message from './message/index.js';
import offline from './offline/index.js';
import iq from './iq/index.js';

const builtins: ModuleDefinition[] = [c2s, tls, bind, register, saslauth, message, offline, iq];

export const builtinModules: ModuleRegistry = new Map(builtins.map((m) => [m.name, m]));
