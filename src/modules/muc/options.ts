/** `[modules.muc]`: who may create rooms, limits, abuse controls and the defaults of new rooms. */
import { z } from 'zod';
import { duration, jidList, oneOf } from '../../core/option-schemas.js';
import { archiveExpiry } from '../mam/retention.js';

export const mucOptions = z
  .strictObject({
    /** Who may create rooms: any JID (also remote), accounts of this server's hosts, or only `admins` and the server's admins. */
    creators: oneOf(['anyone', 'local', 'admins'], 'local'),
    /** Bare JIDs that own every room (besides the server-wide `admins`). */
    admins: jidList(),
    /** Rooms one bare JID may have created and still existing (0: no limit). */
    max_rooms_per_user: z.number().int().min(0).default(100),
    /** Occupants of one room; a room's `maxusers` can only be lower. */
    max_occupants: z.number().int().min(1).max(1_000_000).default(10_000),
    /** Messages a room keeps for history on join; a room's `historylength` can only be lower. */
    max_history: z.number().int().min(0).max(10_000).default(100),
    /** Groupchat and private messages one occupant may send per second, on average (token bucket). */
    message_rate: z.number().min(0.01).max(10_000).default(5),
    /** How many messages an occupant may send at once before the rate applies. */
    message_burst: z.number().int().min(1).max(100_000).default(20),
    /** A members-only room adds the invitees of its admins (and of occupants when invitations are allowed) to the member list. */
    invite_adds_member: z.boolean().default(true),
    /** How long an iq forwarded to an occupant waits for its answer before it is forgotten. */
    iq_timeout: duration('60s', { min: 1000 }),
    /** How long the room archive keeps messages: a duration or "never"; pruned every `archive_prune_interval`. */
    archive_expires_after: archiveExpiry('365 days'),
    archive_prune_interval: duration('1 hour', { min: 1000 }),
    archive_prune_batch_size: z.number().int().min(1).default(500),
    /** Room archive query pages: without RSM max, and the cap of a larger max. */
    archive_default_page_size: z.number().int().min(1).default(50),
    archive_max_page_size: z.number().int().min(1).default(250),
    /** The configuration of new rooms, before the owner's form. */
    room_defaults: z
      .strictObject({
        persistent: z.boolean().default(false),
        public: z.boolean().default(true),
        members_only: z.boolean().default(false),
        moderated: z.boolean().default(false),
        whois: oneOf(['anyone', 'moderators'], 'moderators'),
        allow_invites: z.boolean().default(false),
        change_subject: z.boolean().default(false),
        allow_pm: oneOf(['anyone', 'participants', 'moderators', 'none'], 'anyone'),
        history_length: z.number().int().min(0).default(20),
        logging: z.boolean().default(false),
        /** Archive messages (XEP-0313 on the room JID; history on join comes from the archive). On by default, as Prosody's muc_log_by_default. */
        archiving: z.boolean().default(true),
      })
      .prefault({}),
  })
  .refine((o) => o.room_defaults.history_length <= o.max_history, {
    message: 'room_defaults.history_length cannot be more than max_history',
    path: ['room_defaults', 'history_length'],
  });

export type MucOptions = z.infer<typeof mucOptions>;
