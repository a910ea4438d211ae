/** What the scenarios need from a server under test, whichever server it is. */

export type ServerName = 'canto' | 'prosody';

/** The data a scenario needs on the server before it starts. */
export interface ServerSetup {
  /** Accounts u0 … u(accounts-1), all with the bench password. */
  accounts: number;
  /** Mutual ('both') subscriptions between u0 and each of u1 … u(contacts). */
  fanoutContacts?: number;
  /**
   * Mutual ('both') subscriptions inside consecutive groups of this many accounts (u0…u(g-1),
   * u(g)…u(2g-1), …; the last group may be smaller): every member has the others as contacts.
   * Not combined with fanoutContacts (the soak scenario uses it).
   */
  rosterGroupSize?: number;
  /**
   * Server processes sharing the c2s port (Canto's `[cluster] workers`); unset or 1: one
   * process. Only Canto can run several; scenarios do not ask other servers for it.
   */
  workers?: number;
}

export interface RunningServer {
  readonly name: ServerName;
  readonly domain: string;
  /** The c2s (STARTTLS) port on 127.0.0.1. */
  readonly port: number;
  /** The server process's PID, for /proc readings. */
  readonly pid: number;
  readonly password: string;
  username(i: number): string;
  stop(): Promise<void>;
}

export interface ServerUnderTest {
  readonly name: ServerName;
  /** Version string for the report. */
  version(): string;
  start(setup: ServerSetup): Promise<RunningServer>;
}

export const BENCH_DOMAIN = 'localhost';
export const BENCH_PASSWORD = 'bench-password';
/** Both servers store SCRAM keys with this many PBKDF2 iterations. */
export const BENCH_SCRAM_ITERATIONS = 4096;

export function benchUsername(i: number): string {
  return `u${i}`;
}

/** The indexes of account i's contacts under `rosterGroupSize` (empty when unset or < 2). */
export function rosterGroupContacts(i: number, accounts: number, groupSize: number | undefined): number[] {
  if (groupSize === undefined || groupSize < 2) return [];
  const first = i - (i % groupSize);
  const contacts: number[] = [];
  for (let k = first; k < Math.min(first + groupSize, accounts); k++) if (k !== i) contacts.push(k);
  return contacts;
}

