/** What a caller did wrong. Mapped to HTTP in one place (lambdas/handlers/http.ts); only these expose details. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(
    message: string,
    /** field name → reason */
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

export class UnauthorizedError extends Error {
  override readonly name = 'UnauthorizedError';
}

/** A write lost an optimistic-lock race; the caller re-reads and retries. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

/** Exhaustiveness check for discriminated unions. */
export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
