/**
 * The push decisions for one host: given something important for a registration, send a
 * notification now, or coalesce it into a later one (rate limit, a notification still in
 * flight), retry what the app server refused with back-off, and disable a registration after
 * `max_failures` consecutive failures. Every decision goes to the push trace and a debug log line.
 *
 * Per registration ("device") the state counts what came since the device was last connected:
 * the counts in each notification are those totals, and a device that comes back (its resource
 * binds or resumes, or it enables again) starts from zero.
 */
import type { Logger } from '../../core/logging.js';
import type { CounterMetric, HistogramMetric } from '../../core/metrics.js';
import { retryDelay } from './backoff.js';
import type { Deadlines } from './deadlines.js';
import { preview, publishIq } from './form.js';
import type { Importance, ImportantKind } from './importance.js';
import type { Publisher } from './publisher.js';
import { describeRegistration, registrationKey, type Registration, type RegistrationBook } from './registrations.js';
import type { PushTrace, SuppressReason, TraceEntry } from './trace.js';
import type { PushOptions } from './options.js';

export type Important = Extract<Importance, { important: true }>;

/** What caused a notification: a hibernated session got it, it went offline, unacked at hibernation, or the coalesced rest. */
export type Trigger = 'hibernated' | 'offline' | 'unacked' | 'ack-delayed' | 'coalesced';

export interface EngineMetrics {
  sent: CounterMetric<'trigger'>;
  suppressed: CounterMetric<'reason'>;
  errors: CounterMetric<'kind'>;
  disabled: CounterMetric;
  answerSeconds: HistogramMetric;
}

export interface EngineDeps {
  host: string;
  options: PushOptions;
  now(): number;
  deadlines: Deadlines;
  publisher: Publisher;
  trace: PushTrace;
  book: RegistrationBook;
  log: Logger;
  metrics: EngineMetrics;
  /**
   * Whether the app servers' answers reach this process. Not on a cluster worker other than the
   * service worker (the answer is routed where components and s2s are): there a timeout says
   * nothing and must not count as a failure.
   */
  answersReachUs: boolean;
}

interface DeviceState {
  readonly username: string;
  reg: Registration;
  messages: number;
  subscriptions: number;
  lastSender: string | undefined;
  lastBody: string | undefined;
  /** Important things not yet in a sent notification. */
  unpushed: number;
  lastSentAt: number | undefined;
  inFlight: boolean;
  cancelTrailing: (() => void) | undefined;
  /** Consecutive failed attempts; also stored with the registration, so a restart does not forgive them. */
  failures: number;
  /** Disabled or replaced: stop retrying, send nothing more. */
  removed: boolean;
}

export class PushEngine {
  private readonly devices = new Map<string, DeviceState>();
  private stopped = false;

  constructor(private readonly d: EngineDeps) {}

  /** Something important for `reg` (several at once: the unacked stanzas of a session that just hibernated). */
  offer(username: string, reg: Registration, items: readonly Important[], trigger: Trigger): void {
    if (items.length === 0 || this.stopped) return;
    const state = this.state(username, reg);
    for (const item of items) this.note(state, item);
    state.unpushed += items.length;
    const what = describeItems(items);
    if (state.inFlight) {
      this.suppress(username, reg, trigger, what, 'in-flight', `coalesced into the next notification (${state.unpushed} waiting)`);
      return;
    }
    const now = this.d.now();
    if (state.lastSentAt !== undefined && now - state.lastSentAt < this.d.options.min_interval) {
      const due = this.scheduleTrailing(state);
      this.suppress(username, reg, trigger, what, 'rate-limited', `coalesced into the notification due at ${new Date(due).toISOString()} (${state.unpushed} waiting)`);
      return;
    }
    void this.push(state, trigger, what);
  }

  /** Record a decision not to notify (`reg` undefined: no registration to notify). */
  suppress(username: string, reg: Registration | undefined, trigger: string, what: string, reason: SuppressReason, detail?: string): void {
    this.d.metrics.suppressed.inc({ reason });
    const entry: TraceEntry = { at: this.d.now(), trigger, what, decision: 'suppressed', reason };
    if (reg !== undefined) entry.registration = describeRegistration(reg);
    if (detail !== undefined) entry.detail = detail;
    this.record(username, entry);
  }

  /** The device of these registrations is connected again: counts start from zero, no coalesced notification is due. */
  deviceBack(username: string, resource: string): void {
    for (const state of this.devices.values()) {
      if (state.username === username && state.reg.resource === resource) this.reset(state);
    }
  }

  /** A client enabled `reg` (new or again): a fresh start for it. */
  enabled(username: string, reg: Registration, replaced: boolean): void {
    const state = this.devices.get(deviceKey(username, reg));
    if (state !== undefined) {
      state.reg = reg;
      state.failures = 0;
      this.reset(state);
    }
    this.record(username, { at: this.d.now(), registration: describeRegistration(reg), trigger: 'client', what: `enabled by ${reg.resource}`, decision: 'enabled', detail: replaced ? 'replaced the registration with the same app server and node' : undefined });
  }

  /** Registrations removed (by the client, or for failures): forget their state, stop their retries. */
  removed(username: string, regs: readonly Registration[], trigger: string, why: string): void {
    for (const reg of regs) {
      const key = deviceKey(username, reg);
      const state = this.devices.get(key);
      if (state !== undefined) {
        state.removed = true;
        state.cancelTrailing?.();
        this.devices.delete(key);
      }
      this.record(username, { at: this.d.now(), registration: describeRegistration(reg), trigger, what: 'registration removed', decision: 'disabled', reason: why });
    }
  }

  stop(): void {
    this.stopped = true;
    for (const state of this.devices.values()) state.cancelTrailing?.();
    this.devices.clear();
  }

  /** Registrations with state (for tests). */
  get size(): number {
    return this.devices.size;
  }

  /** Consecutive failures of a registration (the trace and `canto push-trace` show them). */
  failures(username: string, reg: Registration): number {
    return this.devices.get(deviceKey(username, reg))?.failures ?? reg.failures ?? 0;
  }

  private state(username: string, reg: Registration): DeviceState {
    const key = deviceKey(username, reg);
    let state = this.devices.get(key);
    if (state === undefined) {
      state = { username, reg, messages: 0, subscriptions: 0, lastSender: undefined, lastBody: undefined, unpushed: 0, lastSentAt: undefined, inFlight: false, cancelTrailing: undefined, failures: reg.failures ?? 0, removed: false };
      this.devices.set(key, state);
    }
    return state;
  }

  private note(state: DeviceState, item: Important): void {
    if (item.kind === 'subscription') state.subscriptions++;
    else state.messages++;
    state.lastSender = item.sender;
    state.lastBody = item.body;
  }

  private reset(state: DeviceState): void {
    state.messages = 0;
    state.subscriptions = 0;
    state.lastSender = undefined;
    state.lastBody = undefined;
    state.unpushed = 0;
    state.cancelTrailing?.();
    state.cancelTrailing = undefined;
    // Nothing pending and nothing to remember: the state goes (failures stay while in flight).
    if (!state.inFlight && state.failures === 0) this.devices.delete(deviceKey(state.username, state.reg));
  }

  /** The coalesced notification at the end of the rate-limit window; returns when it is due. */
  private scheduleTrailing(state: DeviceState): number {
    const due = Math.max(this.d.now(), (state.lastSentAt ?? 0) + this.d.options.min_interval);
    if (state.cancelTrailing !== undefined) return due;
    state.cancelTrailing = this.d.deadlines.after(due - this.d.now(), () => {
      state.cancelTrailing = undefined;
      if (state.removed || this.stopped || state.inFlight || state.unpushed === 0) return;
      void this.push(state, 'coalesced', `${state.unpushed} coalesced since the last notification`);
    });
    return due;
  }

  private async push(state: DeviceState, trigger: Trigger, what: string): Promise<void> {
    const { options, publisher, metrics } = this.d;
    const { username, reg } = state;
    state.inFlight = true;
    const entry = this.record(username, { at: this.d.now(), registration: describeRegistration(reg), trigger, what, decision: 'sent', attempts: 0 });
    metrics.sent.inc({ trigger });
    try {
      for (let attempt = 1; ; attempt++) {
        // Each attempt says what is known now: what came during a retry's wait is in it.
        state.unpushed = 0;
        state.lastSentAt = this.d.now();
        const id = publisher.newId();
        const stanza = publishIq({
          id,
          from: `${username}@${this.d.host}`,
          to: reg.jid,
          node: reg.node,
          publishOptions: reg.options,
          summary: {
            messageCount: state.messages,
            subscriptionCount: state.subscriptions,
            lastSender: options.include_sender ? state.lastSender : undefined,
            lastBody: options.include_body && state.lastBody !== undefined ? preview(state.lastBody) : undefined,
          },
        });
        const outcome = await publisher.publish(id, reg.jid, stanza);
        if (this.stopped) return;
        entry.attempts = attempt;
        entry.latencyMs = outcome.latencyMs;
        if (outcome.ok) {
          entry.answer = 'result';
          entry.detail = attempt > 1 ? `delivered at attempt ${attempt}` : undefined;
          if (state.failures > 0) {
            state.failures = 0;
            await this.storeFailures(state);
          }
          metrics.answerSeconds.observe(outcome.latencyMs / 1000);
          this.d.log.debug({ user: `${username}@${this.d.host}`, registration: entry.registration, latencyMs: outcome.latencyMs, attempt }, 'push delivered to the app server');
          return;
        }
        entry.answer = outcome.answer;
        if (outcome.kind === 'timeout' && !this.d.answersReachUs) {
          entry.detail = 'the answer goes to the cluster service worker: not counted as a failure';
          return;
        }
        metrics.errors.inc({ kind: outcome.kind });
        state.failures++;
        if (state.failures >= options.max_failures) {
          entry.decision = 'failed';
          entry.detail = `${state.failures} consecutive failures: registration disabled`;
          await this.disableForFailures(state);
          return;
        }
        await this.storeFailures(state);
        if (attempt >= options.max_attempts || state.removed) {
          entry.decision = 'failed';
          entry.detail = `gave up after ${attempt} attempt${attempt === 1 ? '' : 's'} (${state.failures} consecutive failures)`;
          this.d.log.debug({ user: `${username}@${this.d.host}`, registration: entry.registration, answer: outcome.answer }, 'push failed');
          return;
        }
        const delay = retryDelay(attempt, options.retry_delay, options.max_retry_delay);
        entry.detail = `attempt ${attempt} failed; retrying in ${delay} ms`;
        this.d.log.debug({ user: `${username}@${this.d.host}`, registration: entry.registration, answer: outcome.answer, delay }, 'push failed: retrying');
        await new Promise<void>((resolve) => this.d.deadlines.after(delay, resolve));
        if (this.stopped || state.removed) {
          entry.decision = 'failed';
          entry.detail = `attempt ${attempt} failed; no retry (the registration was removed)`;
          return;
        }
      }
    } catch (err) {
      entry.decision = 'failed';
      entry.detail = 'internal error';
      this.d.log.error({ err, user: `${username}@${this.d.host}` }, 'push failed');
    } finally {
      state.inFlight = false;
      if (!state.removed && !this.stopped && state.unpushed > 0) this.scheduleTrailing(state);
    }
  }

  /** The failure count goes with the registration into the store (rare: only when it changes on a failure or the success after). */
  private async storeFailures(state: DeviceState): Promise<void> {
    try {
      await this.d.book.setFailures(state.username, state.reg, state.failures);
    } catch (err) {
      this.d.log.error({ err, user: `${state.username}@${this.d.host}` }, 'could not store the failures of a push registration');
    }
  }

  private async disableForFailures(state: DeviceState): Promise<void> {
    const { username, reg } = state;
    const why = `${state.failures} consecutive failures (max_failures ${this.d.options.max_failures})`;
    state.removed = true;
    this.d.metrics.disabled.inc();
    this.d.log.info({ user: `${username}@${this.d.host}`, registration: describeRegistration(reg), failures: state.failures }, 'push registration disabled: the app server keeps failing');
    try {
      const gone = await this.d.book.disable(username, reg.jid, reg.node);
      this.removed(username, gone.length > 0 ? gone : [reg], 'failures', why);
    } catch (err) {
      this.d.log.error({ err, user: `${username}@${this.d.host}` }, 'could not disable a push registration');
    }
  }

  private record(username: string, entry: TraceEntry): TraceEntry {
    if (entry.detail === undefined) delete entry.detail;
    const account = `${username}@${this.d.host}`;
    this.d.log.debug({ user: account, registration: entry.registration, trigger: entry.trigger, what: entry.what, decision: entry.decision, reason: entry.reason, detail: entry.detail }, 'push decision');
    return this.d.trace.add(account, entry);
  }
}

function deviceKey(username: string, reg: { jid: string; node: string }): string {
  return `${username}\u0000${registrationKey(reg)}`;
}

const KIND_WORDS: Record<ImportantKind, string> = {
  message: 'message',
  encrypted: 'encrypted message',
  mention: 'mention',
  subscription: 'subscription request',
  call: 'call',
};

/** "message from juliet@example.com", "encrypted message from … and 2 more". */
export function describeItems(items: readonly Important[]): string {
  const last = items[items.length - 1] as Important;
  const head = `${KIND_WORDS[last.kind]} from ${last.sender}`;
  return items.length > 1 ? `${head} and ${items.length - 1} more` : head;
}
