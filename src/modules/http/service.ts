/**
 * What the http module provides to other modules (`mod.require('http')`): mounting routes,
 * upgrade paths and advertised endpoints, each returning its dispose function, and the limits
 * in force. See README.md in this folder.
 */
import type { HttpLimits } from '../../net/http.js';
import type { HttpRouter } from '../../net/http-router.js';
import type { TrustedProxies } from '../../net/proxy.js';

export interface HttpService {
  /** Mount a route (an exact path, `/with/:params` or `/prefix/*`); returns its dispose function. */
  readonly route: HttpRouter['route'];
  /** Mount an upgrade handler (WebSocket) on an exact path; returns its dispose function. */
  readonly upgrade: HttpRouter['upgrade'];
  /** Advertise an endpoint in host-meta (XEP-0156); returns the function that withdraws it. */
  readonly advertise: HttpRouter['advertise'];
  /** The endpoints advertised now. */
  readonly advertised: HttpRouter['advertised'];
  /** `[modules.http]` limits: maxBodyBytes is the default body limit of routes. */
  readonly limits: Readonly<HttpLimits>;
  readonly proxies: TrustedProxies;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    http: HttpService;
  }
}

/** The service over one router. */
export function httpServiceOf(router: HttpRouter, limits: Readonly<HttpLimits>, proxies: TrustedProxies): HttpService {
  return {
    route: (spec) => router.route(spec),
    upgrade: (path, handler, opts) => router.upgrade(path, handler, opts),
    advertise: (endpoint) => router.advertise(endpoint),
    get advertised() {
      return router.advertised;
    },
    limits,
    proxies,
  };
}
