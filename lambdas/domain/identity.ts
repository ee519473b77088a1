import * as z from 'zod';

/**
 * The identity key of a lead: trimmed and lower-cased. We do not strip dots or `+tags`: that is provider-specific
 * and would merge people who are different for every other mail system.
 */
export function normalizeEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

/** A deliverable-looking address, normalized. Deliberately simpler than RFC 5322: what forms need, not what MTAs allow. */
export const Email = z
  .string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') })
  .transform(normalizeEmail)
  .pipe(
    z
      .string()
      .min(1, 'is required')
      .max(254, 'is longer than 254 characters')
      .regex(
        // eslint-disable-next-line no-control-regex -- control characters are exactly what this excludes
        /^[^\s\u0000-\u001f\u007f-\u009f@<>()[\]\\,;:"]+@[^\s\u0000-\u001f\u007f-\u009f@<>()[\]\\,;:"]+\.[a-z0-9-]{2,}$/i,
        'is not a valid email address',
      )
      .refine((s) => s.isWellFormed(), 'is not a valid email address'),
  );
export type Email = z.infer<typeof Email>;

/** The domain part of a normalized email. */
export const emailDomain = (email: string): string => email.slice(email.lastIndexOf('@') + 1);
