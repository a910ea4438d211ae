import type { MigrationData } from './model.js';
import type { AccountCredentials } from '../storage/types.js';
export function readProsodySql(_dir: string, _opts: { derive(password: string): AccountCredentials }): MigrationData {
  throw new Error('todo');
}
