/**
 * A failure worth retrying as is (throttling, a lost optimistic-lock race, a dependency briefly down). Thrown, so
 * the platform retries: the state machines retry `RetryableError` with backoff (Lambda reports the error's name as
 * its type).
 */
export class RetryableError extends Error {
  override readonly name = 'RetryableError';
}

/** SES refused a message for good (unverified identity, rejected content, missing template): not worth a retry. */
export class MailRejectedError extends Error {
  override readonly name = 'MailRejectedError';
  constructor(
    message: string,
    /** The SES error name, e.g. `MessageRejected`. */
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * The send failed after the mail service may have accepted the message (a timeout, a connection lost after the
 * request went out): it must not be sent again, and it may have gone.
 */
export class MailOutcomeUnknownError extends Error {
  override readonly name = 'MailOutcomeUnknownError';
}
