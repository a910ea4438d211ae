/** What the scenarios need from a server under test, whichever server it is. */

export type ServerName = 'canto' | 'prosody';

/** The data a scenario needs on the server before it starts. */
export interface ServerSetup {
  /** Accounts u0 … u(accounts-1), all with the bench password. */
  accounts: number;
  /** Mutual ('both') subscriptions between u0 and each of u1 … u(contacts). */
  fanoutContacts?: number;
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
