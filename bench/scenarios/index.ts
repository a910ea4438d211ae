/** Every scenario, in the order the suite runs them. */
import { loginScenario } from './login.js';
import { loginFastScenario } from './login-fast.js';
import { messagesScenario } from './messages.js';
import { idleClusterScenario, idleScenario } from './idle.js';
import { fanoutScenario } from './fanout.js';
import { soakScenario } from './soak.js';
import { resumeScenario } from './resume.js';
import { mamScenario } from './mam.js';
import { pepScenario } from './pep.js';
import { mucJoinScenario, mucMessagesScenario } from './muc.js';
import { uploadScenario } from './upload.js';
import { floodScenario } from './flood.js';
import { clusterScenario } from './cluster.js';
import type { Scenario } from './types.js';

// The parameter types differ per scenario; the runner treats them as plain number records.
export const scenarios: ReadonlyArray<Scenario<Record<string, number>>> = [
  loginScenario as unknown as Scenario<Record<string, number>>,
  loginFastScenario as unknown as Scenario<Record<string, number>>,
  messagesScenario as unknown as Scenario<Record<string, number>>,
  idleScenario as unknown as Scenario<Record<string, number>>,
  fanoutScenario as unknown as Scenario<Record<string, number>>,
  soakScenario as unknown as Scenario<Record<string, number>>,
  mamScenario as unknown as Scenario<Record<string, number>>,
  resumeScenario as unknown as Scenario<Record<string, number>>,
  pepScenario as unknown as Scenario<Record<string, number>>,
  mucJoinScenario as unknown as Scenario<Record<string, number>>,
  mucMessagesScenario as unknown as Scenario<Record<string, number>>,
  uploadScenario as unknown as Scenario<Record<string, number>>,
  floodScenario as unknown as Scenario<Record<string, number>>,
  clusterScenario as unknown as Scenario<Record<string, number>>,
  idleClusterScenario as unknown as Scenario<Record<string, number>>,
];

export function scenarioByName(name: string): Scenario<Record<string, number>> | undefined {
  return scenarios.find((s) => s.name === name);
}
