/**
 * Idle connections held by load-generator child processes (./idle-child.ts). Every client
 * connection is a file descriptor, and one process may hold at most the open-files hard limit
 * (20,000 here), so a large idle run is split over children of at most MAX_PER_CHILD
 * connections each. Children are started with their soft limit raised (like the servers),
 * talk to this process over IPC, and are stopped by PID: 'close', then SIGKILL if they linger.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withRaisedNofile } from '../servers/proc.js';
import type { LoginTarget } from '../scenarios/connect.js';
import type { FromIdleChild, ToIdleChild } from './idle-protocol.js';

/** Connections per child at most (well below the hard limit, leaving room for the rest). */
export const MAX_PER_CHILD = 8000;

const CHILD_SCRIPT = fileURLToPath(new URL('./idle-child.js', import.meta.url));
/** Time a child gets to start before its logins are counted against the deadline. */
const STARTUP_MS = 30_000;
/** How long a child gets to close its connections and exit before it is SIGKILLed. */
const EXIT_WAIT_MS = 10_000;

/**
 * Connections per child for `connections` in total: none (hold them in this process) unless
 * there are more than MAX_PER_CHILD or `generators` (≥ 1) forces children; then an even split
 * over max(generators, ⌈connections / MAX_PER_CHILD⌉) children, never more than connections.
 */
export function generatorSlices(connections: number, generators = 0): number[] {
  const needed = Math.ceil(connections / MAX_PER_CHILD);
  if (connections <= 0 || (generators < 1 && needed <= 1)) return [];
  const n = Math.min(connections, Math.max(needed, generators));
  const base = Math.floor(connections / n);
  return Array.from({ length: n }, (_, i) => base + (i < connections % n ? 1 : 0));
}

type Reply = Exclude<FromIdleChild, { type: 'error' | 'progress' }>;

/** What one generator child does: log users `first` … `first + count - 1` in to `target`, from `localAddress`. */
export interface ChildPlan {
  target: LoginTarget;
  first: number;
  count: number;
  localAddress?: string;
}

/** One child: its process, the replies it sends, and what went wrong if it failed. */
class GeneratorChild {
  /** Logins reported so far. */
  done = 0;
  private failure: Error | undefined;
  private exitExpected = false;
  private stderrTail = '';
  private readonly waiters: Array<{ type: Reply['type']; resolve: (m: Reply) => void; reject: (e: Error) => void }> = [];
  readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly label: string,
  ) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-1500);
    });
    child.on('message', (m: FromIdleChild) => this.receive(m));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        // Pending waits end here either way (a stopped child answers nothing more).
        const tail = this.stderrTail.trim();
        this.fail(new Error(this.exitExpected ? 'stopped' : `exited unexpectedly (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ''}`));
        resolve();
      });
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      // A send racing the child's death: its 'exit' follows and says why it died.
      if (err.code === 'EPIPE' || err.code === 'ERR_IPC_CHANNEL_CLOSED') return;
      this.fail(err);
    });
  }

  static spawn(label: string): GeneratorChild {
    // sh raises the soft open-files limit, then execs node: the PID is the child's own.
    const child = spawn('sh', withRaisedNofile(process.execPath, [CHILD_SCRIPT]), { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    return new GeneratorChild(child, label);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Send unless the child has failed or gone; a wait for the reply then reports why. */
  send(message: ToIdleChild): void {
    if (this.failure === undefined && this.child.connected) this.child.send(message);
  }

  /** The next reply of `type`, or the child's failure, or a timeout. */
  next<T extends Reply['type']>(type: T, timeoutMs: number): Promise<Extract<Reply, { type: T }>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(this.labelled(new Error(`no '${type}' reply within ${timeoutMs} ms (${this.done} logins reported)`)));
      }, timeoutMs);
      const waiter = {
        type,
        resolve: (m: Reply) => {
          clearTimeout(timer);
          resolve(m as Extract<Reply, { type: T }>);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Ask the child to close its connections and exit; SIGKILL it (by PID) if it does not. */
  async stop(): Promise<void> {
    this.exitExpected = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'close' } satisfies ToIdleChild);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), EXIT_WAIT_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private receive(m: FromIdleChild): void {
    if (m.type === 'progress') {
      this.done = m.done;
    } else if (m.type === 'error') {
      this.exitExpected = true; // it exits after reporting
      this.fail(new Error(m.message));
    } else {
      const i = this.waiters.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = this.labelled(err);
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  private labelled(err: Error): Error {
    return err.message.startsWith(this.label) ? err : new Error(`${this.label}: ${err.message}`);
  }
}

/** Idle connections held by child processes, for as long as the caller needs them. */
export class ChildGenerators {
  private constructor(private readonly children: GeneratorChild[]) {}

  /**
   * Start one child per slice and log users `first` … in (slice after slice) with initial
   * presence; resolves when every child holds its slice, rejects with the first child's error
   * (after stopping every child) or when `deadlineMs` (plus start-up time) has passed.
   * `localAddresses[k]`, when given, is the source address child k's clients bind (else the
   * target's `localAddress`, else the kernel's choice).
   */
  static async start(server: LoginTarget, first: number, slices: number[], opts: { presence: boolean; deadlineMs: number; localAddresses?: string[] }): Promise<ChildGenerators> {
    let next = first;
    const plans = slices.map((count, k) => {
      const plan: ChildPlan = { target: server, first: next, count, localAddress: opts.localAddresses?.[k] ?? server.localAddress };
      next += count;
      return plan;
    });
    return ChildGenerators.startPlans(plans, opts);
  }

  /**
   * One child per plan, each logging `count` users from `first` in to its own target (e.g. one
   * node of a Redis cluster) from its own source address; otherwise as `start`.
   */
  static async startPlans(plans: ChildPlan[], opts: { presence: boolean; deadlineMs: number; concurrency?: number }): Promise<ChildGenerators> {
    const children: GeneratorChild[] = [];
    try {
      for (const [k, plan] of plans.entries()) {
        const { target } = plan;
        const usernames = Array.from({ length: plan.count }, (_, i) => target.username(plan.first + i));
        const where = target.host !== undefined ? ` → ${target.host}` : '';
        const child = GeneratorChild.spawn(`generator child ${k + 1}/${plans.length} (${usernames[0]}…${usernames[plan.count - 1]}${where})`);
        children.push(child);
        child.send({ type: 'login', port: target.port, host: target.host, localAddress: plan.localAddress, domain: target.domain, password: target.password, usernames, presence: opts.presence, deadlineMs: opts.deadlineMs, concurrency: opts.concurrency });
      }
      await Promise.all(children.map((c) => c.next('ready', opts.deadlineMs + STARTUP_MS)));
      return new ChildGenerators(children);
    } catch (err) {
      await Promise.all(children.map((c) => c.stop()));
      throw err;
    }
  }

  /** PIDs of the children (for the report and for checks). */
  get pids(): number[] {
    return this.children.flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  }

  /**
   * Connections still open and CPU seconds used so far, summed over the children; rejects
   * with the error of a child that failed (or exited) meanwhile.
   */
  async count(timeoutMs = 10_000): Promise<{ open: number; cpuSeconds: number }> {
    const counts = await Promise.all(
      this.children.map((c) => {
        const reply = c.next('count', timeoutMs);
        c.send({ type: 'count' });
        return reply;
      }),
    );
    return { open: counts.reduce((sum, r) => sum + r.open, 0), cpuSeconds: counts.reduce((sum, r) => sum + r.cpuSeconds, 0) };
  }

  /** Close every connection and stop every child (bounded: SIGKILL after EXIT_WAIT_MS). */
  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop()));
  }
}
