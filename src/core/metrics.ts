/**
 * Prometheus metrics (docs/metrics.md). Each Server has its own registry, so two servers in one
 * process never share a value; the process metrics (CPU, memory, event loop, GC) are collected
 * once per process and appear in every server's registry under their standard names.
 *
 * Everything measures through a Measure: the core's (`scope('core')`) and each loaded module's
 * (`mod.measure`). A module's metrics are named `canto_<module>_…`; on a host module they carry
 * a `host` label set automatically. The same module loaded on several hosts shares one metric
 * family, each host its own series. Releasing a scope (module unload) removes its series, and
 * the family once no scope uses it, so a reloaded module registers the same names again.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './logging.js';
import { checkLabelNames, checkMetricName, HOST_LABEL, METRIC_PREFIX, MetricDefinitionError, type MetricKind } from './metric-names.js';

export { MetricDefinitionError } from './metric-names.js';

/** Label values by label name; a label left out is not set on the series. */
export type LabelValues<L extends string> = Partial<Record<L, string | number>>;

export interface CounterMetric<L extends string = never> {
  /** Add `by` (default 1) to the series of these labels. */
  inc(labels?: LabelValues<L>, by?: number): void;
}

export interface GaugeMetric<L extends string = never> {
  set(value: number, labels?: LabelValues<L>): void;
  inc(labels?: LabelValues<L>, by?: number): void;
  dec(labels?: LabelValues<L>, by?: number): void;
}

export interface HistogramMetric<L extends string = never> {
  observe(value: number, labels?: LabelValues<L>): void;
  /** Start timing: the function returned observes the seconds since, and returns them. */
  startTimer(labels?: LabelValues<L>): () => number;
}

/** Sets a gauge's values at scrape time; the gauge is emptied before, so series not set vanish. */
export type GaugeCollect<L extends string> = (gauge: GaugeMetric<L>) => void | Promise<void>;

/** A counter kept elsewhere as a plain number (a hot path pays an increment, not a label lookup), read when scraped. */
export interface CounterReading<L extends string = never> {
  /** The total so far of the series of these labels (it must never go down while the owner lives). */
  set(total: number, labels?: LabelValues<L>): void;
}

/** Reads a counter's totals at scrape time (see {@link CounterReading}). */
export type CounterCollect<L extends string> = (counter: CounterReading<L>) => void | Promise<void>;

/** Registering metrics. Names are given without the `canto_` prefix (docs/metrics.md). */
export interface Measure {
  /**
   * A counter; its name ends in `_total`. With `collect`, its values are the totals the callback
   * reads at each scrape (kept as plain numbers by the owner); `inc` then has no effect.
   */
  counter<L extends string = never>(name: string, help: string, labels?: readonly L[], collect?: CounterCollect<L>): CounterMetric<L>;
  /** A gauge; with `collect`, its values are only those the callback sets at each scrape. */
  gauge<L extends string = never>(name: string, help: string, labels?: readonly L[], collect?: GaugeCollect<L>): GaugeMetric<L>;
  /** A histogram; `buckets` in the observed unit (default: prom-client's, for seconds). */
  histogram<L extends string = never>(name: string, help: string, buckets?: readonly number[], labels?: readonly L[]): HistogramMetric<L>;
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;
type Labels = Record<string, string | number>;

interface Family {
  readonly owner: string;
  /** Kind, help, label names, buckets and whether collected: the same on every host. */
  readonly shape: string;
  readonly metric: AnyMetric;
  readonly users: Set<MetricScope>;
  readonly collectors: Map<MetricScope, Collect>;
}

/** A gauge's or a counter's collect callback (the family's kind says which). */
type Collect = GaugeCollect<string> | CounterCollect<string>;

export class Metrics {
  /** This server's metrics (the process metrics are added when rendered). */
  readonly registry = new Registry();
  private readonly families = new Map<string, Family>();
  private readonly withProcess: boolean;

  constructor(
    private readonly log?: Logger,
    opts: { processMetrics?: boolean } = {},
  ) {
    this.withProcess = opts.processMetrics !== false;
  }

  /**
   * Every metric in the Prometheus text exposition format. The process metrics (CPU, memory,
   * event loop, GC) start being collected at the first render: their GC observer and event-loop
   * monitor cost something on every collection, and nothing reads them until something scrapes.
   * `openMetrics`: the OpenMetrics text format (counters without `_total` in their family name,
   * `# EOF` at the end) instead of the Prometheus one.
   */
  render(opts: { openMetrics?: boolean } = {}): Promise<string> {
    const merged = Registry.merge(this.withProcess ? [processRegistry(), this.registry] : [this.registry]);
    // The merged registry is typed for the Prometheus format; prom-client switches it at run time.
    if (opts.openMetrics === true) (merged as unknown as Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>).setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    return merged.metrics();
  }

  /** The Content-Type of render()'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Measure of an owner (a module name, or 'core') on a host (undefined: global). */
  scope(owner: string, host?: string): MetricScope {
    return new MetricScope(this, owner, host);
  }

  /** @internal Create the family, or join the one the owner registered on another host. */
  define(scope: MetricScope, kind: MetricKind, name: string, help: string, labels: readonly string[], buckets?: readonly number[], collect?: Collect): AnyMetric {
    checkMetricName(scope.owner, kind, name);
    checkLabelNames(scope.owner, name, labels, scope.host !== undefined);
    const fullName = METRIC_PREFIX + name;
    const labelNames = scope.host === undefined ? [...labels] : [HOST_LABEL, ...labels];
    const shape = JSON.stringify({ kind, help, labelNames, buckets, collected: collect !== undefined });
    let family = this.families.get(fullName);
    if (family) {
      const where = scope.host === undefined ? '' : ` on ${scope.host}`;
      if (family.owner !== scope.owner) throw new MetricDefinitionError(`metric ${fullName} (${scope.owner}): already registered by ${family.owner}`);
      if (family.users.has(scope)) throw new MetricDefinitionError(`metric ${fullName}: registered twice by ${scope.owner}${where}`);
      if (family.shape !== shape) throw new MetricDefinitionError(`metric ${fullName} (${scope.owner}${where}): registered on another host with another type, help, labels or buckets`);
    } else {
      family = this.create(kind, fullName, help, labelNames, buckets, collect !== undefined, scope.owner, shape);
      this.families.set(fullName, family);
    }
    family.users.add(scope);
    if (collect) family.collectors.set(scope, collect);
    return family.metric;
  }

  private create(kind: MetricKind, name: string, help: string, labelNames: string[], buckets: readonly number[] | undefined, collected: boolean, owner: string, shape: string): Family {
    const registers = [this.registry];
    const collectors = new Map<MetricScope, Collect>();
    const log = this.log;
    // A collected metric is emptied at each scrape, then every scope's callback sets its values
    // through that scope's view (its host label); a callback that throws is logged and skipped.
    const collectEach = async (view: (scope: MetricScope) => (fn: Collect) => unknown): Promise<void> => {
      for (const [scope, fn] of collectors) {
        try {
          await view(scope)(fn);
        } catch (err) {
          log?.warn({ err, metric: name, module: scope.owner, host: scope.host }, 'a metric collect callback failed');
        }
      }
    };
    let metric: AnyMetric;
    if (kind === 'counter' && collected) {
      metric = new Counter({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          await collectEach((scope) => (fn) => (fn as CounterCollect<string>)(scope.counterReading(this)));
        },
      });
    } else if (kind === 'counter') metric = new Counter({ name, help, labelNames, registers });
    else if (kind === 'histogram') metric = new Histogram({ name, help, labelNames, registers, ...(buckets ? { buckets: [...buckets] } : {}) });
    else if (!collected) metric = new Gauge({ name, help, labelNames, registers });
    else {
      metric = new Gauge({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          await collectEach((scope) => (fn) => (fn as GaugeCollect<string>)(scope.gaugeHandle(this)));
        },
      });
    }
    return { owner, shape, metric, users: new Set(), collectors };
  }

  /** @internal Leave the families a scope joined: its series go, and a family no scope uses. */
  async release(scope: MetricScope, names: Iterable<string>): Promise<void> {
    for (const name of names) {
      const family = this.families.get(name);
      if (!family?.users.delete(scope)) continue;
      const collected = family.collectors.delete(scope);
      if (family.users.size === 0) {
        this.registry.removeSingleMetric(name);
        this.families.delete(name);
      } else if (scope.host !== undefined && !collected) {
        await removeHostSeries(family.metric, scope.host);
      }
    }
  }
}

/** One owner's registrations on one host: what `mod.measure` is. */
export class MetricScope implements Measure {
  private readonly names = new Set<string>();
  private released = false;
  private readonly bind: (labels: LabelValues<string> | undefined) => Labels;

  constructor(
    private readonly metrics: Metrics,
    readonly owner: string,
    readonly host: string | undefined,
  ) {
    this.bind = host === undefined ? (labels) => (labels ?? {}) as Labels : (labels) => ({ ...labels, [HOST_LABEL]: host }) as Labels;
  }

  counter<L extends string = never>(name: string, help: string, labels: readonly L[] = [], collect?: CounterCollect<L>): CounterMetric<L> {
    // A collect callback is only ever given this scope's reading, whose labels are L.
    const c = this.register('counter', name, help, labels, undefined, collect as CounterCollect<string> | undefined) as Counter<string>;
    if (collect) return { inc: () => {} };
    return {
      inc: (l, by = 1) => {
        if (!this.released) c.inc(this.bind(l), by);
      },
    };
  }

  /** @internal This scope's view of a collected counter: totals with its host label set. */
  counterReading<L extends string>(c: Counter<string>): CounterReading<L> {
    return {
      set: (total, l) => {
        if (!this.released) c.inc(this.bind(l), Math.max(0, total));
      },
    };
  }

  gauge<L extends string = never>(name: string, help: string, labels: readonly L[] = [], collect?: GaugeCollect<L>): GaugeMetric<L> {
    // A collect callback is only ever given this scope's handle, whose labels are L.
    return this.gaugeHandle(this.register('gauge', name, help, labels, undefined, collect as GaugeCollect<string> | undefined) as Gauge<string>);
  }

  histogram<L extends string = never>(name: string, help: string, buckets?: readonly number[], labels: readonly L[] = []): HistogramMetric<L> {
    const h = this.register('histogram', name, help, labels, buckets) as Histogram<string>;
    return {
      observe: (value, l) => {
        if (!this.released) h.observe(this.bind(l), value);
      },
      startTimer: (l) => {
        const start = process.hrtime.bigint();
        return () => {
          const seconds = Number(process.hrtime.bigint() - start) / 1e9;
          if (!this.released) h.observe(this.bind(l), seconds);
          return seconds;
        };
      },
    };
  }

  /** @internal This scope's view of a gauge: its host label set, inert once released. */
  gaugeHandle<L extends string>(g: Gauge<string>): GaugeMetric<L> {
    return {
      set: (value, l) => {
        if (!this.released) g.set(this.bind(l), value);
      },
      inc: (l, by = 1) => {
        if (!this.released) g.inc(this.bind(l), by);
      },
      dec: (l, by = 1) => {
        if (!this.released) g.dec(this.bind(l), by);
      },
    };
  }

  /** Unregister everything this scope registered (module unload); its handles then do nothing. */
  async release(): Promise<void> {
    this.released = true;
    await this.metrics.release(this, this.names);
    this.names.clear();
  }

  private register(kind: MetricKind, name: string, help: string, labels: readonly string[], buckets?: readonly number[], collect?: Collect): AnyMetric {
    if (this.released) throw new MetricDefinitionError(`metric ${name}: ${this.owner} is unloaded`);
    const metric = this.metrics.define(this, kind, name, help, labels, buckets, collect);
    this.names.add(METRIC_PREFIX + name);
    // A metric without labels of its own shows 0 from the start, on this host's series too.
    if (labels.length === 0 && collect === undefined) {
      if (metric instanceof Histogram) metric.zero(this.bind(undefined));
      else metric.inc(this.bind(undefined), 0);
    }
    return metric;
  }
}

/** Remove the series of one host from a metric other hosts still use. */
async function removeHostSeries(metric: AnyMetric, host: string): Promise<void> {
  const seen = new Map<string, Labels>();
  for (const { labels } of (await metric.get()).values) {
    if (labels[HOST_LABEL] !== host) continue;
    // A histogram's bucket series carry `le`; the series itself is keyed without it.
    const { le: _le, ...own } = labels as Labels;
    seen.set(JSON.stringify(own), own);
  }
  for (const labels of seen.values()) metric.remove(labels);
}

let processMetrics: Registry | undefined;

/** The process metrics, collected once per process from the first render on (the same for every server in it). */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}
