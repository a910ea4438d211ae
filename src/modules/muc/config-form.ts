/**
 * The muc#roomconfig form (§10.2, §15.5.3): built from a room's configuration, and a submission
 * read back into a new configuration. Unknown fields are ignored; a value that is not valid
 * refuses the whole submission (not-acceptable), so a room never has half a configuration.
 */
import { stanzaError } from '../../core/errors.js';
import type { Element } from '../../xml/element.js';
import { buildForm, parseBoolean, type FieldSpec, type ParsedForm } from './forms.js';
import { FORM_ROOMCONFIG } from './ns.js';
import { ROLES, type AllowPm, type Role } from './roles.js';
import type { RoomConfig } from './room.js';

const bool = (b: boolean): string[] => [b ? '1' : '0'];
const ALLOW_PM: readonly AllowPm[] = ['anyone', 'participants', 'moderators', 'none'];
const BROADCAST_ROLES = ROLES.filter((r) => r !== 'none');

export function configForm(c: RoomConfig, limits: { maxOccupants: number; maxHistory: number }): Element {
  const fields: FieldSpec[] = [
    { var: 'muc#roomconfig_roomname', type: 'text-single', label: 'Title', values: [c.name] },
    { var: 'muc#roomconfig_roomdesc', type: 'text-single', label: 'Description', values: [c.description] },
    { var: 'muc#roomconfig_lang', type: 'text-single', label: 'Language of discussion', values: [c.lang] },
    { var: 'muc#roomconfig_persistentroom', type: 'boolean', label: 'Persistent (stays when the last occupant leaves)', values: bool(c.persistent) },
    { var: 'muc#roomconfig_publicroom', type: 'boolean', label: 'Listed in the public directory', values: bool(c.public) },
    { var: 'muc#roomconfig_membersonly', type: 'boolean', label: 'Only members may enter', values: bool(c.membersOnly) },
    { var: 'muc#roomconfig_moderatedroom', type: 'boolean', label: 'Moderated (only participants may speak)', values: bool(c.moderated) },
    { var: 'muc#roomconfig_passwordprotectedroom', type: 'boolean', label: 'Password required to enter', values: bool(c.password !== '') },
    { var: 'muc#roomconfig_roomsecret', type: 'text-private', label: 'Password', values: [c.password] },
    {
      var: 'muc#roomconfig_maxusers', type: 'list-single', label: 'Maximum number of occupants', values: [c.maxUsers === 0 ? 'none' : String(c.maxUsers)],
      options: [...[10, 20, 30, 50, 100, 500, 1000].filter((n) => n <= limits.maxOccupants).map((n) => [String(n), String(n)] as const), ['none', 'no limit']],
    },
    { var: 'muc#roomconfig_whois', type: 'list-single', label: 'Who may see real JIDs', values: [c.whois], options: [['moderators', 'Moderators only'], ['anyone', 'Anyone']] },
    { var: 'muc#roomconfig_allowinvites', type: 'boolean', label: 'Occupants may invite others', values: bool(c.allowInvites) },
    { var: 'muc#roomconfig_changesubject', type: 'boolean', label: 'Occupants may change the subject', values: bool(c.changeSubject) },
    { var: 'muc#roomconfig_allowpm', type: 'list-single', label: 'Who may send private messages', values: [c.allowPm], options: ALLOW_PM.map((v) => [v, v] as const) },
    { var: 'muc#maxhistoryfetch', type: 'text-single', label: `Messages of history sent on join (at most ${limits.maxHistory})`, values: [String(c.historyLength)] },
    { var: 'muc#roomconfig_enablelogging', type: 'boolean', label: 'Log the discussion (public logs)', values: bool(c.logging) },
    { var: 'muc#roomconfig_enablearchiving', type: 'boolean', label: 'Archive messages (history for members, MAM)', values: bool(c.archiving) },
    { var: 'muc#roomconfig_presencebroadcast', type: 'list-multi', label: 'Roles whose presence is broadcast', values: c.presenceBroadcast, options: BROADCAST_ROLES.map((r) => [r, r] as const) },
  ];
  return buildForm('form', FORM_ROOMCONFIG, fields, 'Room configuration');
}

const invalid = (field: string, why: string): never => {
  throw stanzaError('CANTO_ERR_MUC_INVALID_CONFIG', `${field}: ${why}`);
};

/** The configuration a submission asks for; throws not-acceptable for a bad value. */
export function applyConfigForm(form: ParsedForm, current: RoomConfig, limits: { maxOccupants: number; maxHistory: number }): RoomConfig {
  if (form.formType !== undefined && form.formType !== FORM_ROOMCONFIG) throw stanzaError('CANTO_ERR_BAD_REQUEST', `expected the ${FORM_ROOMCONFIG} form`);
  const next: RoomConfig = { ...current, presenceBroadcast: [...current.presenceBroadcast] };
  const f = form.fields;
  const one = (name: string): string | undefined => f.get(name)?.[0];
  const text = (name: string, set: (v: string) => void): void => {
    if (f.has(name)) set(one(name) ?? '');
  };
  const flag = (name: string, set: (v: boolean) => void): void => {
    if (!f.has(name)) return;
    const v = parseBoolean(one(name));
    if (v === undefined) invalid(name, 'expected a boolean');
    else set(v);
  };
  text('muc#roomconfig_roomname', (v) => (next.name = v));
  text('muc#roomconfig_roomdesc', (v) => (next.description = v));
  text('muc#roomconfig_lang', (v) => (next.lang = v));
  flag('muc#roomconfig_persistentroom', (v) => (next.persistent = v));
  flag('muc#roomconfig_publicroom', (v) => (next.public = v));
  flag('muc#roomconfig_membersonly', (v) => (next.membersOnly = v));
  flag('muc#roomconfig_moderatedroom', (v) => (next.moderated = v));
  flag('muc#roomconfig_allowinvites', (v) => (next.allowInvites = v));
  flag('muc#roomconfig_changesubject', (v) => (next.changeSubject = v));
  flag('muc#roomconfig_enablelogging', (v) => (next.logging = v));
  flag('muc#roomconfig_enablearchiving', (v) => (next.archiving = v));
  text('muc#roomconfig_roomsecret', (v) => (next.password = v));
  let protectedRoom: boolean | undefined;
  flag('muc#roomconfig_passwordprotectedroom', (v) => (protectedRoom = v));
  if (protectedRoom === false) next.password = '';
  if (protectedRoom === true && next.password === '') invalid('muc#roomconfig_roomsecret', 'a password-protected room needs a password');
  const maxUsers = one('muc#roomconfig_maxusers');
  if (maxUsers !== undefined) {
    if (maxUsers === 'none' || maxUsers === '' || maxUsers === '0') next.maxUsers = 0;
    else if (/^\d{1,9}$/.test(maxUsers) && Number(maxUsers) <= limits.maxOccupants) next.maxUsers = Number(maxUsers);
    else invalid('muc#roomconfig_maxusers', `expected a number up to ${limits.maxOccupants} or "none"`);
  }
  const whois = one('muc#roomconfig_whois');
  if (whois !== undefined) {
    if (whois === 'anyone' || whois === 'moderators') next.whois = whois;
    else invalid('muc#roomconfig_whois', 'expected "anyone" or "moderators"');
  }
  const allowPm = one('muc#roomconfig_allowpm');
  if (allowPm !== undefined) {
    if ((ALLOW_PM as readonly string[]).includes(allowPm)) next.allowPm = allowPm as AllowPm;
    else invalid('muc#roomconfig_allowpm', `expected one of ${ALLOW_PM.join(', ')}`);
  }
  for (const name of ['muc#maxhistoryfetch', 'muc#roomconfig_historylength']) {
    const v = one(name);
    if (v === undefined) continue;
    if (/^\d{1,9}$/.test(v) && Number(v) <= limits.maxHistory) next.historyLength = Number(v);
    else invalid(name, `expected a number up to ${limits.maxHistory}`);
  }
  const broadcast = f.get('muc#roomconfig_presencebroadcast');
  if (broadcast !== undefined) {
    const bad = broadcast.find((r) => !(BROADCAST_ROLES as readonly string[]).includes(r));
    if (bad !== undefined) invalid('muc#roomconfig_presencebroadcast', `"${bad}" is not a role`);
    next.presenceBroadcast = broadcast as Role[];
  }
  return next;
}

/** The keys whose values differ. */
export function changedKeys(a: RoomConfig, b: RoomConfig): (keyof RoomConfig)[] {
  return (Object.keys(a) as (keyof RoomConfig)[]).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}
