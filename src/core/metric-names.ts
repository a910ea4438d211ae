/**
 * The naming rules of Canto's Prometheus metrics (docs/metrics.md), checked when a metric is
 * registered so a bad name fails the module's load with a clear message instead of surfacing
 * on an operator's dashboard.
 */

/** Every Canto metric's name starts with this; callers give names without it. */
export const METRIC_PREFIX = 'canto_';

/** The owner of the metrics the core registers (no module-name prefix is required of them). */
export const CORE_OWNER = 'core';

/** The label host modules' metrics get automatically. */
export const HOST_LABEL = 'host';

export type MetricKind = 'counter' | 'gauge' | 'histogram';

export class MetricDefinitionError extends Error {}

const SNAKE_CASE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
/** Label names Prometheus or prom-client give a meaning of their own. */
const RESERVED_LABELS = new Set(['le', 'quantile']);

/** The prefix a module's metric names must start with: its name in snake_case and '_'. */
export function modulePrefix(owner: string): string {
  return `${owner.replace(/-/g, '_')}_`;
}

/** Throws a MetricDefinitionError naming the owner when `name` breaks the rules. */
export function checkMetricName(owner: string, kind: MetricKind, name: string): void {
  const who = owner === CORE_OWNER ? 'the core' : `module ${owner}`;
  if (name.startsWith(METRIC_PREFIX)) {
    throw new MetricDefinitionError(`metric "${name}" (${who}): give the name without "${METRIC_PREFIX}", which is added`);
  }
  if (!SNAKE_CASE.test(name)) {
    throw new MetricDefinitionError(`metric "${name}" (${who}): use snake_case (lower-case letters and digits, single underscores, a letter first)`);
  }
  if (owner !== CORE_OWNER && !name.startsWith(modulePrefix(owner))) {
    throw new MetricDefinitionError(`metric "${name}" (${who}): a module's metric names start with "${modulePrefix(owner)}"`);
  }
  if (kind === 'counter' && !name.endsWith('_total')) {
    throw new MetricDefinitionError(`metric "${name}" (${who}): a counter's name ends in "_total"`);
  }
}

/** Throws when a label name is not snake_case, is reserved, is repeated, or is `host` on a host module's metric. */
export function checkLabelNames(owner: string, name: string, labels: readonly string[], hostScoped: boolean): void {
  const seen = new Set<string>();
  for (const label of labels) {
    const problem = !SNAKE_CASE.test(label)
      ? 'is not snake_case'
      : RESERVED_LABELS.has(label)
        ? 'is reserved by Prometheus'
        : hostScoped && label === HOST_LABEL
          ? 'is added automatically on host modules'
          : seen.has(label)
            ? 'is listed twice'
            : undefined;
    if (problem) throw new MetricDefinitionError(`metric "${name}" (${owner}): label "${label}" ${problem}`);
    seen.add(label);
  }
}
