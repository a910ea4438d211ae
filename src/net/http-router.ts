/**
 * The HTTP router: routes (a pattern, its methods, a handler, and per-route body limit, body
 * mode and auth hook), upgrade handlers on exact paths, and the endpoints advertised to clients.
 * Every mount returns the function that removes it (modules pass it to `mod.onUnload`).
 *
 * Several routes may share a pattern when their methods differ (GET a file, PUT an upload). A
 * route that allows GET also answers HEAD (node:http then sends the headers without the body).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { RequestContext } from './http.js';
import { comparePrecedence, compilePattern, matchPattern, type RoutePattern } from './http-pattern.js';

export const HTTP_METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Who an auth hook let in: at least a name for logs; routes define what else they carry. */
export interface Principal {
  readonly name: string;
}

/** What an auth hook sees: the request and what the pattern matched. */
export interface RouteMatchContext extends RequestContext {
  /** `:name` segments of the pattern, %-decoded (a value may hold any character, even "/"). */
  readonly params: Readonly<Record<string, string>>;
  /** Prefix routes: the path after the prefix and its "/", still %-encoded; '' otherwise. */
  readonly rest: string;
  /** The pattern of the route that matched. */
  readonly pattern: string;
}

/** What a handler sees. `principal` is what the route's auth hook returned (undefined without a hook). */
export interface RouteContext<P, B> extends RouteMatchContext {
  readonly principal: P;
  /** The whole body (buffered routes), or the body as it arrives (streaming routes). */
  readonly body: B;
  /** The body limit of this route, in bytes. */
  readonly maxBodyBytes: number;
}

/** undefined: not allowed in (401 with the route's `challenge`). A throw is a 500. */
export type AuthHook<P = Principal> = (req: IncomingMessage, ctx: RouteMatchContext) => Promise<P | undefined>;

export type RouteHandler<P, B> = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext<P, B>) => void | Promise<void>;

interface RouteCommon {
  /** `/exact`, `/with/:param`, or `/prefix/*` (http-pattern.ts). */
  path: string;
  /** Default GET (which brings HEAD). */
  methods?: HttpMethod[];
  /** Listed on the index page with this title when given. */
  title?: string;
  /** Bytes; default `[modules.http] max_body_size`. Above it: 413. */
  maxBodyBytes?: number;
  /** The WWW-Authenticate value sent with a 401 (e.g. `Bearer realm="upload"`); required with `auth`. */
  challenge?: string;
}

export interface BufferedRouteSpec<P extends Principal | undefined> extends RouteCommon {
  stream?: false;
  auth?: AuthHook<P>;
  handler: RouteHandler<P, Buffer>;
}

/** The body is handed over unread, as a stream that fails with a 413 HttpError past the limit. */
export interface StreamRouteSpec<P extends Principal | undefined> extends RouteCommon {
  stream: true;
  /**
   * Time the body by the gap between its chunks instead of `[modules.http] request_timeout`:
   * a long body that keeps arriving is never cut, one that stalls this long is (408, connection
   * closed, the body stream fails). For uploads.
   */
  idleTimeoutMs?: number;
  auth?: AuthHook<P>;
  handler: RouteHandler<P, Readable>;
}

export type RouteSpec<P extends Principal | undefined> = BufferedRouteSpec<P> | StreamRouteSpec<P>;

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext) => void;

/** An endpoint advertised to clients (XEP-0156 host-meta), e.g. the WebSocket or BOSH URL. */
export interface AdvertisedEndpoint {
  /** The link relation: 'urn:xmpp:alt-connections:websocket' or 'urn:xmpp:alt-connections:xbosh'. */
  rel: string;
  path: string;
  /** 'ws' endpoints are advertised as ws:/wss: URLs, 'http' ones as http:/https: URLs. */
  kind: 'ws' | 'http';
}

export interface IndexEntry {
  path: string;
  title: string;
  /** An upgrade (WebSocket) path rather than a page. */
  upgrade: boolean;
  /** A fixed path one can link to (not a pattern). */
  linkable: boolean;
}

/** A mounted route, as the server dispatches it. Types are erased here: the spec checked them. */
export interface MountedRoute {
  readonly pattern: RoutePattern;
  readonly methods: ReadonlySet<HttpMethod>;
  readonly title: string | undefined;
  readonly maxBodyBytes: number | undefined;
  readonly stream: boolean;
  /** Streaming routes: the body's idle limit (ms) replacing the total request timeout. */
  readonly idleTimeoutMs: number | undefined;
  readonly auth: AuthHook<Principal> | undefined;
  readonly challenge: string | undefined;
  readonly handler: RouteHandler<unknown, unknown>;
}

export type RouteLookup =
  | { kind: 'found'; route: MountedRoute; params: Record<string, string>; rest: string }
  | { kind: 'not-found' }
  | { kind: 'bad-escape' }
  | { kind: 'method-not-allowed'; allow: HttpMethod[] };

/** The routes sharing one pattern key (one resource), by method. */
interface Resource {
  readonly pattern: RoutePattern;
  readonly routes: MountedRoute[];
}

export class HttpRouter {
  private readonly resources = new Map<string, Resource>();
  /** Non-exact resources in precedence order (exact ones are found by key). */
  private ordered: Resource[] = [];
  private readonly upgrades = new Map<string, { handler: UpgradeHandler; title: string | undefined }>();
  private readonly endpoints: AdvertisedEndpoint[] = [];

  route<P extends Principal | undefined = undefined>(spec: RouteSpec<P>): () => void {
    const pattern = compilePattern(spec.path);
    const methods = new Set<HttpMethod>(spec.methods ?? ['GET']);
    for (const m of methods) if (!HTTP_METHODS.includes(m)) throw new Error(`HTTP route ${spec.path}: unknown method ${String(m)}`);
    if (spec.auth && !spec.challenge) throw new Error(`HTTP route ${spec.path}: a route with auth names its WWW-Authenticate challenge`);
    if (spec.maxBodyBytes !== undefined && !(spec.maxBodyBytes >= 0)) throw new Error(`HTTP route ${spec.path}: bad maxBodyBytes`);
    const idleTimeoutMs = spec.stream === true ? spec.idleTimeoutMs : undefined;
    if (idleTimeoutMs !== undefined && !(idleTimeoutMs > 0)) throw new Error(`HTTP route ${spec.path}: bad idleTimeoutMs`);
    const route: MountedRoute = {
      pattern,
      methods,
      title: spec.title,
      maxBodyBytes: spec.maxBodyBytes,
      stream: spec.stream === true,
      idleTimeoutMs,
      auth: spec.auth as AuthHook<Principal> | undefined, // P is a Principal or undefined: TS cannot see it through the generic
      challenge: spec.challenge,
      // The handler's context type follows from the spec (principal from auth, body from stream);
      // dispatch builds exactly that context, so the erased type is safe.
      handler: spec.handler as RouteHandler<unknown, unknown>,
    };
    let resource = this.resources.get(pattern.key);
    if (resource) {
      const taken = resource.routes.flatMap((r) => [...r.methods]).filter((m) => methods.has(m));
      if (taken.length > 0) throw new Error(`HTTP ${taken.join(', ')} ${spec.path} is already served`);
      resource.routes.push(route);
    } else {
      resource = { pattern, routes: [route] };
      this.resources.set(pattern.key, resource);
      this.reorder();
    }
    const owner = resource;
    return () => {
      const i = owner.routes.indexOf(route);
      if (i < 0) return;
      owner.routes.splice(i, 1);
      if (owner.routes.length === 0 && this.resources.get(pattern.key) === owner) {
        this.resources.delete(pattern.key);
        this.reorder();
      }
    };
  }

  upgrade(path: string, handler: UpgradeHandler, opts: { title?: string } = {}): () => void {
    if (this.upgrades.has(path)) throw new Error(`HTTP upgrade path ${path} is already served`);
    const entry = { handler, title: opts.title };
    this.upgrades.set(path, entry);
    return () => {
      if (this.upgrades.get(path) === entry) this.upgrades.delete(path);
    };
  }

  advertise(endpoint: AdvertisedEndpoint): () => void {
    this.endpoints.push(endpoint);
    return () => {
      const i = this.endpoints.indexOf(endpoint);
      if (i >= 0) this.endpoints.splice(i, 1);
    };
  }

  get advertised(): readonly AdvertisedEndpoint[] {
    return this.endpoints;
  }

  /** Titled routes and upgrade paths, for the index page. */
  index(): IndexEntry[] {
    const out: IndexEntry[] = [];
    for (const { pattern, routes } of this.resources.values()) {
      for (const r of routes) if (r.title !== undefined) out.push({ path: r.pattern.source, title: r.title, upgrade: false, linkable: pattern.kind === 'exact' });
    }
    for (const [path, u] of this.upgrades) if (u.title !== undefined) out.push({ path, title: u.title, upgrade: true, linkable: true });
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  /** The route for `method` on `path` (a URL pathname), or why there is none. */
  lookup(path: string, method: string): RouteLookup {
    const exact = this.resources.get(path);
    const candidates = exact?.pattern.kind === 'exact' ? [exact] : this.ordered;
    for (const resource of candidates) {
      const m = matchPattern(resource.pattern, path);
      if (m === undefined) continue;
      if (m === 'bad-escape') return { kind: 'bad-escape' };
      const route = pickRoute(resource.routes, method);
      if (!route) return { kind: 'method-not-allowed', allow: allowed(resource.routes) };
      // Routes sharing a key may name their parameters differently: match with this route's own.
      const own = route.pattern === resource.pattern ? m : matchPattern(route.pattern, path);
      if (own === undefined || own === 'bad-escape') return { kind: 'bad-escape' };
      return { kind: 'found', route, params: own.params, rest: own.rest };
    }
    return { kind: 'not-found' };
  }

  findUpgrade(path: string): UpgradeHandler | undefined {
    return this.upgrades.get(path)?.handler;
  }

  private reorder(): void {
    this.ordered = [...this.resources.values()].filter((r) => r.pattern.kind !== 'exact').sort((a, b) => comparePrecedence(a.pattern, b.pattern));
  }
}

function pickRoute(routes: readonly MountedRoute[], method: string): MountedRoute | undefined {
  const exact = routes.find((r) => r.methods.has(method as HttpMethod));
  if (exact || method !== 'HEAD') return exact;
  return routes.find((r) => r.methods.has('GET'));
}

function allowed(routes: readonly MountedRoute[]): HttpMethod[] {
  const set = new Set(routes.flatMap((r) => [...r.methods]));
  if (set.has('GET')) set.add('HEAD');
  return HTTP_METHODS.filter((m) => set.has(m));
}
