/** `[modules.external_services]`: the STUN/TURN services to announce and the TURN REST API secret (README.md). */
import { z } from 'zod';
import { duration } from '../../core/option-schemas.js';

export const SERVICE_TYPES = ['stun', 'stuns', 'turn', 'turns'] as const;

const service = z
  .object({
    type: z.enum(SERVICE_TYPES),
    host: z.string().min(1).regex(/^[^\s/@]+$/, { message: 'expected a host name or IP address' }),
    port: z.number().int().min(1).max(65535).optional(),
    transport: z.enum(['udp', 'tcp']).optional(),
    /** Shown to users by some clients. */
    name: z.string().min(1).optional(),
    /** Announced as restricted (credentials needed). Default: whether the service has credentials. */
    restricted: z.boolean().optional(),
    /** This service's TURN REST API secret, instead of the module's `secret`. */
    secret: z.string().min(1).optional(),
    /** Fixed credentials (instead of time-limited ones from a secret). */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => (s.username === undefined) === (s.password === undefined), { message: 'set both username and password, or neither', path: ['username'] })
  .refine((s) => s.secret === undefined || s.username === undefined, { message: 'set either secret or username/password', path: ['secret'] });

export const externalServicesOptions = z
  .object({
    /** The TURN REST API shared secret (coturn's static-auth-secret) for the turn/turns services. */
    secret: z.string().min(1).optional(),
    /** How long handed-out TURN credentials are valid. */
    credentials_ttl: duration('1 day', { min: 60_000 }),
    services: z.array(service).default(() => []),
  })
  .strict();

export type ExternalServicesOptions = z.infer<typeof externalServicesOptions>;
export type ServiceConfig = ExternalServicesOptions['services'][number];
