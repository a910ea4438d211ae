/** The MUC module's metrics (docs/metrics.md), registered once per component. */
import type { CounterMetric } from '../../core/metrics.js';
import type { ModuleApi } from '../../core/modules.js';

export type RemovalReason = 'kick' | 'ban' | 'affiliation' | 'members_only' | 'error' | 'destroy';

export interface MucMetrics {
  roomsCreated: CounterMetric;
  joins: CounterMetric;
  messages: CounterMetric<'kind'>;
  deliveries: CounterMetric;
  removals: CounterMetric<'reason'>;
  rateLimited: CounterMetric;
}

export function mucMetrics(mod: ModuleApi, state: { rooms: () => number; occupants: () => number }): MucMetrics {
  mod.measure.gauge('muc_rooms', 'Rooms in memory (persistent rooms and temporary rooms with occupants)', [], (g) => g.set(state.rooms()));
  mod.measure.gauge('muc_occupants', 'Occupants (nicknames) in all rooms', [], (g) => g.set(state.occupants()));
  return {
    roomsCreated: mod.measure.counter('muc_rooms_created_total', 'Rooms created by a join'),
    joins: mod.measure.counter('muc_joins_total', 'Resources that entered a room'),
    messages: mod.measure.counter('muc_messages_total', 'Messages accepted by rooms, by kind (groupchat, private)', ['kind']),
    deliveries: mod.measure.counter('muc_deliveries_total', 'Groupchat message copies sent to occupant resources'),
    removals: mod.measure.counter('muc_removals_total', 'Occupants removed by the room, by reason (kick, ban, affiliation, members_only, error, destroy)', ['reason']),
    rateLimited: mod.measure.counter('muc_rate_limited_total', 'Messages refused by the per-occupant rate limit'),
  };
}
