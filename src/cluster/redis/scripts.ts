/**
 * The Lua scripts of the Redis engine. Each runs atomically, so a check and the write it guards
 * cannot be split by another node: a binding or a delivery is only written while the member's
 * lease is current (fencing), and a binding is only changed or removed by the member holding it.
 * Scripts derive lease keys from member names, so the engine needs standalone Redis/Valkey (or
 * Sentinel), not Redis Cluster.
 */
import { createHash } from 'node:crypto';
import { PREFIX } from './keys.js';

export interface Script {
  readonly name: string;
  readonly lua: string;
}

const leaseOf = `local function lease_of(member)
  local i = string.find(member, '#[^#]*$')
  return '${PREFIX}lease:' .. string.sub(member, 1, i - 1), string.sub(member, i + 1)
end
`;

/** KEYS lease, members, stream · ARGV incarnation, ttl, member, expiry, group → {1} or {0, pttl}. */
export const JOIN: Script = {
  name: 'join',
  lua: `if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('PTTL', KEYS[1])}
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('XGROUP', 'CREATE', KEYS[3], ARGV[5], '$', 'MKSTREAM')
return {1}`,
};

/** KEYS lease, members · ARGV incarnation, ttl, member, expiry → 1 renewed, 0 not ours any more. */
export const RENEW: Script = {
  name: 'renew',
  lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1`,
};

/** KEYS lease · ARGV incarnation: delete the lease if it is still ours (graceful leave). */
export const RELEASE: Script = {
  name: 'release',
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
};

/** KEYS members → the members whose lease is gone or held by another incarnation. */
export const DEAD_MEMBERS: Script = {
  name: 'dead',
  lua: `${leaseOf}local dead = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key, inc = lease_of(m)
  if redis.call('GET', key) ~= inc then table.insert(dead, m) end
end
return dead`,
};

/**
 * KEYS registry, member sessions, lease · ARGV field, entry JSON, incarnation, channel, event,
 * [member, '1' = only if free] → {0} fenced, {2, holder JSON} another member holds it (only with
 * the flag: a rewrite after an outage must not displace a newer binding), or {1, previous entry
 * JSON or ''}. Otherwise the later binding wins (as kick_old).
 */
export const BIND: Script = {
  name: 'bind',
  lua: `if redis.call('GET', KEYS[3]) ~= ARGV[3] then return {0} end
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and ARGV[7] == '1' and cjson.decode(old).worker ~= ARGV[6] then return {2, old} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {1, old or ''}`,
};

/** KEYS registry, lease · ARGV field, entry JSON, incarnation, channel, event, member, sid → 1, 0 fenced, -1 not the current binding. */
export const UPDATE: Script = {
  name: 'update',
  lua: `if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
local e = cjson.decode(cur)
if e.worker ~= ARGV[6] or e.sid ~= ARGV[7] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`,
};

/** KEYS registry, member sessions · ARGV field, member, sid, channel, event → 1 removed, 0 not the current binding. */
export const UNBIND: Script = {
  name: 'unbind',
  lua: `redis.call('SREM', KEYS[2], ARGV[1])
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local e = cjson.decode(cur)
if e.worker ~= ARGV[2] or e.sid ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`,
};

/** KEYS target lease, target stream · ARGV target incarnation, payload → entry id, or nil when the target is not alive. */
export const DELIVER: Script = {
  name: 'deliver',
  lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
return redis.call('XADD', KEYS[2], '*', 'm', ARGV[2])`,
};

/**
 * KEYS registry, member sessions · ARGV member, channel, drop event → the member's bindings (JSON)
 * that were still current, now deleted; every node hears the drop.
 */
export const REAP_ENTRIES: Script = {
  name: 'reap',
  lua: `local out = {}
for _, f in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local cur = redis.call('HGET', KEYS[1], f)
  if cur and cjson.decode(cur).worker == ARGV[1] then
    redis.call('HDEL', KEYS[1], f)
    table.insert(out, cur)
  end
end
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return out`,
};

/**
 * Singleton services (placement.ts). KEYS owner key, caller's lease · ARGV caller member, caller
 * incarnation, ttl, message JSON, take ('0': never take the service; absent or '1': take it) →
 * {0} the caller's lease is gone (fenced) · {1} the caller owns the service ·
 * {2, owner} queued on the live owner's stream · {3} the caller took the service (no live owner) ·
 * {4} no live owner and the caller may not take it (an external component nobody holds).
 */
export const ROUTE_SERVICE: Script = {
  name: 'route-service',
  lua: `${leaseOf}if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {0} end
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then return {1} end
if owner then
  local key, inc = lease_of(owner)
  if redis.call('GET', key) == inc then
    redis.call('XADD', '${PREFIX}stream:' .. owner, '*', 'm', ARGV[4])
    return {2, owner}
  end
end
if ARGV[5] == '0' then return {4} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return {3}`,
};

/**
 * KEYS owner key, caller's lease · ARGV caller member, caller incarnation, ttl, replace ('1':
 * take it even from a live owner — an external component's newer connection under kick_old) →
 * 1 the caller owns the service (renewed, or taken because no live member held it, or replaced),
 * 0 another live member does.
 */
export const CLAIM_SERVICE: Script = {
  name: 'claim-service',
  lua: `${leaseOf}if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] and ARGV[4] ~= '1' then
  local key, inc = lease_of(owner)
  if redis.call('GET', key) == inc then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`,
};

/** KEYS owner key · ARGV member: give the service up if this member still owns it (graceful stop). */
export const RELEASE_SERVICE: Script = {
  name: 'release-service',
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
};

/**
 * KEYS key · ARGV value: delete the key if it still holds `value` → 1, else 0. A takeover key
 * (sm-takeover.ts) is released by the takeover that took it, never by an older one.
 */
export const DELETE_IF: Script = {
  name: 'delete-if',
  lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
};

/**
 * Directed presence (directed-presence.ts). KEYS caller's lease, the caller's directed hash ·
 * ARGV caller incarnation, field, value → 1 recorded, 0 the lease is gone (a reaped member's
 * hash is never written again).
 */
export const DIRECTED_ADD: Script = {
  name: 'directed-add',
  lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1`,
};

/** Every script, loaded into Redis when a node starts (RedisEngine.start). */
export const ALL_SCRIPTS: readonly Script[] = [
  JOIN, RENEW, RELEASE, DEAD_MEMBERS, BIND, UPDATE, UNBIND, DELIVER, REAP_ENTRIES, ROUTE_SERVICE, CLAIM_SERVICE, RELEASE_SERVICE, DELETE_IF, DIRECTED_ADD,
];

const shas = new WeakMap<Script, string>();

/** The name Redis gives a script (the SHA-1 of its body, as SCRIPT LOAD answers), computed here. */
export function scriptSha(script: Script): string {
  let sha = shas.get(script);
  if (sha === undefined) {
    sha = createHash('sha1').update(script.lua).digest('hex');
    shas.set(script, sha);
  }
  return sha;
}
