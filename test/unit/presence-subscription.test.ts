/** The subscription state machine against the tables of RFC 6121 Appendix A. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptPreApproved, autoApprove, inbound, outbound, type SubState, type SubscriptionType } from '../../src/modules/presence/subscription.js';

/** The states of Appendix A by their RFC names. */
const STATES: Record<string, SubState> = {
  'None': { subscription: 'none', pendingOut: false, pendingIn: false, approved: false },
  'None + Pending Out': { subscription: 'none', pendingOut: true, pendingIn: false, approved: false },
  'None + Pending In': { subscription: 'none', pendingOut: false, pendingIn: true, approved: false },
  'None + Pending Out+In': { subscription: 'none', pendingOut: true, pendingIn: true, approved: false },
  'To': { subscription: 'to', pendingOut: false, pendingIn: false, approved: false },
  'To + Pending In': { subscription: 'to', pendingOut: false, pendingIn: true, approved: false },
  'From': { subscription: 'from', pendingOut: false, pendingIn: false, approved: false },
  'From + Pending Out': { subscription: 'from', pendingOut: true, pendingIn: false, approved: false },
  'Both': { subscription: 'both', pendingOut: false, pendingIn: false, approved: false },
};

function nameOf(s: SubState): string {
  for (const [name, st] of Object.entries(STATES)) {
    if (st.subscription === s.subscription && st.pendingOut === s.pendingOut && st.pendingIn === s.pendingIn && st.approved === s.approved) return name;
  }
  return JSON.stringify(s);
}

type Row = [state: string, pass: boolean, next: string | null];

function checkTable(label: string, fn: (s: SubState) => { pass: boolean; next: SubState | undefined }, rows: Row[]) {
  test(label, () => {
    assert.equal(rows.length, Object.keys(STATES).length, 'every state has a row');
    for (const [state, pass, next] of rows) {
      const before = STATES[state];
      assert.ok(before, state);
      const t = fn(before);
      assert.equal(t.pass, pass, `${label}: ${state}: route/deliver`);
      assert.equal(t.next === undefined ? null : nameOf(t.next), next, `${label}: ${state}: new state`);
    }
  });
}

const out = (type: SubscriptionType) => (s: SubState) => outbound(type, s, false);
const inb = (type: SubscriptionType) => (s: SubState) => inbound(type, s);

checkTable('A.2.1 outbound subscribe', out('subscribe'), [
  ['None', true, 'None + Pending Out'],
  ['None + Pending Out', true, null],
  ['None + Pending In', true, 'None + Pending Out+In'],
  ['None + Pending Out+In', true, null],
  ['To', true, null],
  ['To + Pending In', true, null],
  ['From', true, 'From + Pending Out'],
  ['From + Pending Out', true, null],
  ['Both', true, null],
]);

checkTable('A.2.2 outbound unsubscribe', out('unsubscribe'), [
  ['None', true, null],
  ['None + Pending Out', true, 'None'],
  ['None + Pending In', true, null],
  ['None + Pending Out+In', true, 'None + Pending In'],
  ['To', true, 'None'],
  ['To + Pending In', true, 'None + Pending In'],
  ['From', true, null],
  ['From + Pending Out', true, 'From'],
  ['Both', true, 'From'],
]);

checkTable('A.2.3 outbound subscribed (no pre-approval)', out('subscribed'), [
  ['None', false, null],
  ['None + Pending Out', false, null],
  ['None + Pending In', true, 'From'],
  ['None + Pending Out+In', true, 'From + Pending Out'],
  ['To', false, null],
  ['To + Pending In', true, 'Both'],
  ['From', false, null],
  ['From + Pending Out', false, null],
  ['Both', false, null],
]);

checkTable('A.2.4 outbound unsubscribed', out('unsubscribed'), [
  ['None', false, null],
  ['None + Pending Out', false, null],
  ['None + Pending In', true, 'None'],
  ['None + Pending Out+In', true, 'None + Pending Out'],
  ['To', false, null],
  ['To + Pending In', true, 'To'],
  ['From', true, 'None'],
  ['From + Pending Out', true, 'None + Pending Out'],
  ['Both', true, 'To'],
]);

checkTable('A.3.1 inbound subscribe', inb('subscribe'), [
  ['None', true, 'None + Pending In'],
  ['None + Pending Out', true, 'None + Pending Out+In'],
  ['None + Pending In', false, null],
  ['None + Pending Out+In', false, null],
  ['To', true, 'To + Pending In'],
  ['To + Pending In', false, null],
  ['From', false, null],
  ['From + Pending Out', false, null],
  ['Both', false, null],
]);

checkTable('A.3.2 inbound unsubscribe', inb('unsubscribe'), [
  ['None', false, null],
  ['None + Pending Out', false, null],
  ['None + Pending In', true, 'None'],
  ['None + Pending Out+In', true, 'None + Pending Out'],
  ['To', false, null],
  ['To + Pending In', true, 'To'],
  ['From', true, 'None'],
  ['From + Pending Out', true, 'None + Pending Out'],
  ['Both', true, 'To'],
]);

checkTable('A.3.3 inbound subscribed', inb('subscribed'), [
  ['None', false, null],
  ['None + Pending Out', true, 'To'],
  ['None + Pending In', false, null],
  ['None + Pending Out+In', true, 'To + Pending In'],
  ['To', false, null],
  ['To + Pending In', false, null],
  ['From', false, null],
  ['From + Pending Out', true, 'Both'],
  ['Both', false, null],
]);

checkTable('A.3.4 inbound unsubscribed', inb('unsubscribed'), [
  ['None', false, null],
  ['None + Pending Out', true, 'None'],
  ['None + Pending In', false, null],
  ['None + Pending Out+In', true, 'None + Pending In'],
  ['To', true, 'None'],
  ['To + Pending In', true, 'None + Pending In'],
  ['From', false, null],
  ['From + Pending Out', true, 'From'],
  ['Both', true, 'From'],
]);

test('§3.4 pre-approval: an unsolicited subscribed records approval, unsubscribed cancels it', () => {
  const none = STATES['None'] as SubState;
  const t = outbound('subscribed', none, true);
  assert.equal(t.pass, false, 'a pre-approval is not routed');
  assert.deepEqual(t.next, { ...none, approved: true });
  const to = outbound('subscribed', STATES['To'] as SubState, true);
  assert.equal(to.next?.approved, true);
  assert.equal(outbound('subscribed', STATES['From'] as SubState, true).next, undefined, 'already subscribed: nothing to approve');
  const cancel = outbound('unsubscribed', { ...none, approved: true }, true);
  assert.equal(cancel.pass, false);
  assert.deepEqual(cancel.next, none);
});

test('auto-approval of an inbound subscribe', () => {
  assert.equal(autoApprove(STATES['From'] as SubState), 'already');
  assert.equal(autoApprove(STATES['Both'] as SubState), 'already');
  assert.equal(autoApprove(STATES['None'] as SubState), undefined);
  assert.equal(autoApprove({ ...(STATES['To'] as SubState), approved: true }), 'pre-approved');
  assert.equal(nameOf(acceptPreApproved({ ...(STATES['To'] as SubState), approved: true })), 'Both');
  assert.equal(nameOf(acceptPreApproved({ ...(STATES['None + Pending Out'] as SubState), approved: true })), 'From + Pending Out');
});
