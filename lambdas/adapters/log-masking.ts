import type { CustomJsonReplacerFn } from '@aws-lambda-powertools/logger/types';

/**
 * Masks personal data and credentials in log entries (issue 7 §2): email addresses keep their first character and
 * their domain (`j***@example.com`), and credentials are replaced by `***` — the values of keys such as
 * `authorization`, `x-api-key`, `x-admin-key` or `token` anywhere in an entry, and `token=…`-style parameters,
 * `"token":"…"` pairs and `Bearer …` credentials inside strings (URLs, raw bodies, error messages).
 *
 * Plugged into the Powertools logger as its JSON replacer, which sees every key and value of every entry — the
 * message, appended and persistent keys, extra objects, and errors after Powertools has formatted them:
 * `new Logger({ serviceName, jsonReplacerFn: maskingJsonReplacer })`.
 */

/** What a masked value becomes. */
export const MASK = '***';

/** Key names whose values are credentials, compared without case and punctuation (`X-Api-Key` = `xapikey`). */
const SECRET_KEYS = new Set([
  'authorization',
  'proxyauthorization',
  'xapikey',
  'apikey',
  'xadminkey',
  'adminkey',
  'token',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'sessiontoken',
  'xamzsecuritytoken',
  'xamzsignature',
  'signature',
  'password',
  'secret',
  'unsubscribesecret',
  'cookie',
  'setcookie',
]);

/** True if the value of a key with this name is a credential. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase().replace(/[^a-z0-9]/g, ''));
}

/** Parameter names of credentials as they appear inside strings. */
const SECRET_NAME =
  '(?:token|access_token|refresh_token|id_token|api[-_]?key|x-api-key|x-admin-key|admin[-_]?key|authorization|password|secret|signature|x-amz-signature|x-amz-security-token)';

const STRING_RULES: readonly [RegExp, string][] = [
  // token=…  (query strings, urlencoded bodies, messages); `nextToken=` is not a credential and is left alone.
  [new RegExp(`(^|[^A-Za-z0-9_])(${SECRET_NAME})=([A-Za-z0-9._~+/=%-]*)`, 'gi'), `$1$2=${MASK}`],
  // "token":"…"  (JSON inside a string, e.g. a raw request body)
  [new RegExp(`("${SECRET_NAME}"\\s*:\\s*")(?:[^"\\\\]|\\\\.)*(")`, 'gi'), `$1${MASK}$2`],
  // Authorization header values
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${MASK}`],
  // Email addresses, plain or percent-encoded (`%40`): first character and domain kept. The local part is RFC 5322's
  // atext without `/ = ? & %`, so `?email=jane%40example.com` keeps its `email=`; the domain must end in a letter TLD,
  // so package versions (`uuid@14.0.3`) and paths (`node_modules/@aws-sdk`) are left alone.
  [
    /([A-Za-z0-9!#$'*+^_`{|}~.-])[A-Za-z0-9!#$'*+^_`{|}~.-]*(@|%40)((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})(?![A-Za-z0-9-])/g,
    `$1${MASK}$2$3`,
  ],
];

/** A string with its email addresses and inline credentials masked. Idempotent. */
export function maskLogText(text: string): string {
  return STRING_RULES.reduce((s, [pattern, replacement]) => s.replace(pattern, replacement), text);
}

/** Every leaf of the value of a secret key, masked; arrays keep their length so the shape of the entry stays. */
function maskWhole(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskWhole);
  if (value === null || value === undefined || value === '') return value;
  return MASK;
}

/**
 * The Powertools `jsonReplacerFn` (called for every key/value pair while an entry is serialized, before Powertools'
 * own rules): the values of secret keys are masked whole, strings are masked by `maskLogText`, anything else passes
 * on (and its children come back through here).
 */
export const maskingJsonReplacer: CustomJsonReplacerFn = (key, value) => {
  if (key !== '' && isSecretKey(key)) return maskWhole(value);
  if (typeof value === 'string') return maskLogText(value);
  return value;
};
