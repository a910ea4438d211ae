/**
 * The presence subscription state machine of RFC 6121 Appendix A, as pure functions. A state is
 * the subscription of a roster item plus the pending flags; each function answers the table's
 * two columns: whether the stanza is routed (outbound) or delivered to the user (inbound), and
 * the new state (`undefined`: no state change).
 */
import type { Subscription } from '../roster/store.js';

export type SubscriptionType = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed';

export const SUBSCRIPTION_TYPES: ReadonlySet<string> = new Set<SubscriptionType>(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']);

export interface SubState {
  subscription: Subscription;
  /** Pending out: the user asked for the contact's presence. */
  pendingOut: boolean;
  /** Pending in: the contact asked for the user's presence. */
  pendingIn: boolean;
  /** The user pre-approved the contact's request (RFC 6121 §3.4). */
  approved: boolean;
}

export interface Transition {
  /** Outbound: route the stanza to the contact. Inbound: deliver it to the user's resources. */
  pass: boolean;
  next: SubState | undefined;
}

export const NO_STATE: SubState = { subscription: 'none', pendingOut: false, pendingIn: false, approved: false };

const hasTo = (s: Subscription) => s === 'to' || s === 'both';
const hasFrom = (s: Subscription) => s === 'from' || s === 'both';
const withTo = (s: Subscription): Subscription => (hasFrom(s) ? 'both' : 'to');
const withoutTo = (s: Subscription): Subscription => (hasFrom(s) ? 'from' : 'none');
const withFrom = (s: Subscription): Subscription => (hasTo(s) ? 'both' : 'from');
const withoutFrom = (s: Subscription): Subscription => (hasTo(s) ? 'to' : 'none');

function change(pass: boolean, before: SubState, patch: Partial<SubState>): Transition {
  const next = { ...before, ...patch };
  const same = next.subscription === before.subscription && next.pendingOut === before.pendingOut
    && next.pendingIn === before.pendingIn && next.approved === before.approved;
  return { pass, next: same ? undefined : next };
}

/**
 * The user sends a subscription stanza (A.2). `preApproval`: whether the server records
 * pre-approvals (A.2.3 note); without it an unsolicited 'subscribed' changes nothing.
 */
export function outbound(type: SubscriptionType, s: SubState, preApproval = true): Transition {
  switch (type) {
    case 'subscribe': // A.2.1: always routed; the contact's server answers when already subscribed.
      return change(true, s, hasTo(s.subscription) ? {} : { pendingOut: true });
    case 'unsubscribe': // A.2.2
      return change(true, s, { subscription: withoutTo(s.subscription), pendingOut: false });
    case 'subscribed': // A.2.3
      if (s.pendingIn) return change(true, s, { subscription: withFrom(s.subscription), pendingIn: false, approved: false });
      if (hasFrom(s.subscription) || !preApproval) return change(false, s, {});
      return change(false, s, { approved: true });
    case 'unsubscribed': // A.2.4 (and cancelling a pre-approval, §3.4)
      if (s.pendingIn || hasFrom(s.subscription)) {
        return change(true, s, { subscription: withoutFrom(s.subscription), pendingIn: false, approved: false });
      }
      return change(false, s, { approved: false });
  }
}

/**
 * The contact's server receives a subscription stanza for the user (A.3). For an inbound
 * 'subscribe' the caller also checks `autoApprove` first (already subscribed or pre-approved).
 */
export function inbound(type: SubscriptionType, s: SubState): Transition {
  switch (type) {
    case 'subscribe': // A.3.1
      if (hasFrom(s.subscription) || s.pendingIn) return change(false, s, {});
      return change(true, s, { pendingIn: true });
    case 'unsubscribe': // A.3.2
      if (!s.pendingIn && !hasFrom(s.subscription)) return change(false, s, {});
      return change(true, s, { subscription: withoutFrom(s.subscription), pendingIn: false });
    case 'subscribed': // A.3.3
      if (!s.pendingOut) return change(false, s, {});
      return change(true, s, { subscription: withTo(s.subscription), pendingOut: false });
    case 'unsubscribed': // A.3.4
      if (!s.pendingOut && !hasTo(s.subscription)) return change(false, s, {});
      return change(true, s, { subscription: withoutTo(s.subscription), pendingOut: false });
  }
}

/**
 * An inbound 'subscribe' the server answers itself (§3.1.3): 'already' when the contact is
 * already subscribed (reply 'subscribed', nothing changes), 'pre-approved' when the user
 * pre-approved it (§3.4: the state becomes From), undefined when the user must decide.
 */
export function autoApprove(s: SubState): 'already' | 'pre-approved' | undefined {
  if (hasFrom(s.subscription)) return 'already';
  if (s.approved) return 'pre-approved';
  return undefined;
}

/** The state after a pre-approved request is accepted. */
export function acceptPreApproved(s: SubState): SubState {
  return { ...s, subscription: withFrom(s.subscription), pendingIn: false, approved: false };
}
