/** Storage: the store interfaces and the drivers that implement them. */
export type {
  Account,
  AccountCredentials,
  AccountStore,
  ArchiveItem,
  ArchiveQuery,
  ArchiveStore,
  KeyValStore,
  MapStore,
  ScramCredential,
  ScramMechanismName,
  StorageDriver,
  UpdateFn,
} from './types.js';
export { MIN_SCRAM_ITERATIONS, SCRAM_MECHANISM_NAMES } from './types.js';
export {
  StorageDuplicateIdError,
  StorageInvalidArgumentError,
  StorageItemNotFoundError,
  StorageSchemaTooNewError,
  StorageUnavailableError,
} from './errors.js';
export { openSqliteStorage, type SqliteStorageOptions } from './sqlite.js';
export { openMemoryStorage } from './memory.js';
