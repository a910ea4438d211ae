/** Errors that storage drivers throw, with a stable `code` callers can branch on. */

/** An archive query named an `after`/`before` id that is not in the user's store. */
export class StorageItemNotFoundError extends Error {
  readonly code = 'storage-item-not-found';
  /** The XMPP stanza error condition this maps to (XEP-0313 / XEP-0059). */
  readonly condition = 'item-not-found';
  constructor(readonly id: string) {
    super(`archive item not found: ${JSON.stringify(id)}`);
    this.name = 'StorageItemNotFoundError';
  }
}

/** Appending an item whose caller-supplied id is already in the user's store. */
export class StorageDuplicateIdError extends Error {
  readonly code = 'storage-duplicate-id';
  constructor(readonly id: string) {
    super(`archive item id already exists: ${JSON.stringify(id)}`);
    this.name = 'StorageDuplicateIdError';
  }
}

/** The database was written by a newer Canto than this one (schema version too high). */
export class StorageSchemaTooNewError extends Error {
  readonly code = 'storage-schema-too-new';
  /** Its code in src/core/errors.ts (docs/errors.md), printed by the CLI. */
  readonly cantoCode = 'CANTO_ERR_STORAGE_SCHEMA_TOO_NEW';
  constructor(readonly found: number, readonly supported: number, file: string) {
    super(
      `database ${file} has schema version ${found}, but this Canto supports up to ${supported}; ` +
        'upgrade Canto (or restore a backup made by this version)',
    );
    this.name = 'StorageSchemaTooNewError';
  }
}

/** A value or argument the store cannot accept (not JSON-serialisable, malformed credentials…). */
export class StorageInvalidArgumentError extends TypeError {
  readonly code = 'storage-invalid-argument';
  constructor(message: string) {
    super(message);
    this.name = 'StorageInvalidArgumentError';
  }
}

/**
 * The database cannot be reached or refused us (connection refused or lost, timed out,
 * authentication failed, no such database). At start-up it stops the server with this message;
 * at run time the call rejects with it and the driver reconnects on a later call, so a login
 * during an outage fails with SASL `temporary-auth-failure` rather than crashing anything.
 */
export class StorageUnavailableError extends Error {
  readonly code = 'storage-unavailable';
  /** Its code in src/core/errors.ts (docs/errors.md), printed by the CLI. */
  readonly cantoCode = 'CANTO_ERR_STORAGE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}
