/**
 * Services between modules: a module `provides` a typed API under a name, and other modules
 * `require` it, instead of reaching into each other through process-wide maps. Every name and
 * its type is declared in ServiceMap, which modules extend by declaration merging:
 *
 *   declare module '../../core/services.js' {
 *     interface ServiceMap { 'http': HttpService }
 *   }
 *
 * A host module provides on its host; a global module provides server-wide. `require` looks on
 * the module's host first, then server-wide. A provided service is withdrawn when its module
 * unloads.
 */

import { CodedError } from './errors.js';

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging in the modules
export interface ServiceMap {}

export type ServiceName = keyof ServiceMap & string;

/** CANTO_ERR_SERVICE_MISSING: a module requires a service no loaded module provides. */
export class ServiceNotFoundError extends CodedError {
  constructor(readonly service: string, where: string) {
    super('CANTO_ERR_SERVICE_MISSING', `service "${service}" is not provided ${where}: add the module that provides it to this module's depends`);
  }
}

/** The services provided in one scope (a host, or the server). */
export class ServiceScope {
  private readonly services = new Map<string, unknown>();

  constructor(readonly name: string) {}

  /** Provide a service; returns the function that withdraws it. A name is provided once per scope. */
  provide<K extends ServiceName>(name: K, api: ServiceMap[K]): () => void {
    if (this.services.has(name)) throw new Error(`service "${name}" is already provided on ${this.name}`);
    this.services.set(name, api);
    return () => {
      if (this.services.get(name) === api) this.services.delete(name);
    };
  }

  get<K extends ServiceName>(name: K): ServiceMap[K] | undefined {
    return this.services.get(name) as ServiceMap[K] | undefined;
  }

  has(name: ServiceName): boolean {
    return this.services.has(name);
  }
}
