/** `[modules.upload]`: limits, expiry, who may upload, URLs and the token secret (README.md). */
import { z } from 'zod';
import { check, duration, isDomain, list, size } from '../../core/option-schemas.js';

function isBaseUrl(v: unknown): v is string {
  if (typeof v !== 'string' || !/^https?:\/\/[^/\s?#]+(\/[^\s?#]*)?$/.test(v)) return false;
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}

/** "image/png", "image/*" or "*\/*" (lower-cased). */
function isTypePattern(v: unknown): v is string {
  return typeof v === 'string' && /^([a-z0-9][a-z0-9!#$&^_.+-]*|\*)\/([a-z0-9][a-z0-9!#$&^_.+-]*|\*)$/i.test(v);
}

export const uploadOptions = z
  .object({
    /** Largest file one slot may carry; advertised in disco as max-file-size. */
    max_file_size: size('100 MiB', { min: 1 }),
    /** Bytes one account may have stored at once (files expire after `expire_after`). */
    quota: size('1 GiB', { min: 1 }),
    /** Bytes one account may upload in any 24 hours. */
    daily_quota: size('500 MiB', { min: 1 }),
    /** Files are deleted this long after their upload. */
    expire_after: duration('30 days', { min: 1000 }),
    /** How long a slot's PUT URL may be used after the slot was handed out. */
    slot_lifetime: duration('5 minutes', { min: 1000 }),
    /**
     * An upload whose client sends nothing for this long is cut (408) and its partial file
     * removed. Only the gaps count, not the whole upload: a large file over a slow link that
     * keeps arriving is never cut (`[modules.http] request_timeout` does not apply to it).
     */
    idle_timeout: duration('60s', { min: 100 }),
    /** How often expired files are looked for (in batches of `cleanup_batch`). */
    cleanup_interval: duration('1 hour', { min: 1000 }),
    cleanup_batch: z.number().int().min(1).max(10_000).default(100),
    /**
     * Domains whose users may upload. Empty (the default): the domain the component is under
     * (example.com for upload.example.com), or every served domain when that is not one.
     * "*": the users of every domain this server serves.
     */
    allowed_domains: list(check((v): v is string => v === '*' || isDomain(v), 'a served domain such as "example.com", or "*"')),
    /** Content types a slot may name ("image/*", "application/pdf"); empty: any. */
    allowed_types: list(check(isTypePattern, 'a content type such as "image/png" or "image/*"')),
    /** The URL files are served at instead of this server's (a proxy or CDN forwarding to /upload/<domain>/). */
    external_url: check(isBaseUrl, 'an http(s) URL such as "https://files.example.com/upload" (no query)').optional(),
    /** The HMAC secret of upload tokens; without it one is made and kept in storage (same for every process). */
    secret: z.string().min(16, { message: 'expected at least 16 characters' }).optional(),
  })
  .strict();

export type UploadOptions = z.infer<typeof uploadOptions>;
