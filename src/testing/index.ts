/**
 * canto/testing: test Canto modules in-process, without sockets or sleeps. See README.md.
 */
export { startHarness, testConfig, testLogger, tempDir, type Harness, type HarnessOptions } from './harness.js';
export { FakeClient, FakeConnection, createFakeSession, type FakeSessionSink, type ReceiveOptions, type StanzaMatch } from './fake-client.js';
export { FakeClock } from './fake-clock.js';
export { waitFor, settle, type WaitOptions } from './wait-for.js';
export { Wakeup } from './wakeup.js';
export { errorCondition, NS_STANZAS } from './stanzas.js';
export type { Clock } from '../core/clock.js';
