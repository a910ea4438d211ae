/** CLI error kinds, mapped to exit codes by main.ts. */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const;

/** The command line was wrong: exit 2 with the help text. */
export class UsageError extends Error {}
/** The operation could not be done (account exists, check found problems): exit 1. */
export class CommandFailed extends Error {}
