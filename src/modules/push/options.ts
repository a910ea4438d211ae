/** `[modules.push]` (docs/configuration.md, README.md in this folder). */
import { z } from 'zod';
import { duration } from '../../core/option-schemas.js';

export const pushOptions = z
  .object({
    /**
     * Put the message text in `last-message-body`. Off by default: the notification travels
     * through the app server and Apple's or Google's push service, which then read it.
     */
    include_body: z.boolean().default(false),
    /** Put the sender's address in `last-message-sender` (off by default, for the same reason). */
    include_sender: z.boolean().default(false),
    /** At most one notification per registration in this time; what comes meanwhile is coalesced into the next. */
    min_interval: duration('5s'),
    /** How long to wait for the app server's answer; no answer counts as a failure. */
    timeout: duration('30s', { min: 100 }),
    /** Attempts per notification (the first and the retries) when the app server fails. */
    max_attempts: z.number().int().min(1).max(10).default(3),
    /** Wait before the first retry; doubled for each further one… */
    retry_delay: duration('2s', { min: 10 }),
    /** …up to this. */
    max_retry_delay: duration('5 minutes', { min: 10 }),
    /** Consecutive failures (errors or timeouts, retries included) after which a registration is disabled. */
    max_failures: z.number().int().min(1).default(5),
    /** Registrations (devices) per account; one more is refused. */
    max_registrations: z.number().int().min(1).max(1000).default(20),
    /** Push decisions kept per account for `canto push-trace`. */
    trace_size: z.number().int().min(1).max(10_000).default(50),
    /** Accounts whose push decisions are kept (the least recently traced one is forgotten first). */
    trace_accounts: z.number().int().min(1).max(1_000_000).default(1000),
  })
  .refine((o) => o.max_retry_delay >= o.retry_delay, { message: 'max_retry_delay must not be shorter than retry_delay', path: ['max_retry_delay'] });

export type PushOptions = z.output<typeof pushOptions>;
