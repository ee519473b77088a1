import { randomInt, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as z from 'zod';
import { AwsApiError, type LocalAwsService } from '../aws-endpoint.js';
import type { LocalSecret } from '../deployment.js';

/**
 * Secrets Manager, locally, for the template's secrets: `GetSecretValue`, `DescribeSecret`, `ListSecrets` and
 * `PutSecretValue` (how an operator rotates a keyring) in AWS JSON 1.1, so the functions read their secrets through the
 * same SDK call (Powertools Parameters) as on AWS. A secret the template generates (`GenerateSecretString`) is
 * generated once here, as CloudFormation does at deploy, and kept in the data directory, so that links signed before
 * a restart stay valid after it.
 *
 * An endpoint rather than a provider injected into the handlers: the code path that deploys — the SDK call, its
 * permissions' shape, the caching, the JSON transform — is the one that runs.
 */

const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

interface Version {
  versionId: string;
  secretString: string;
  stages: string[];
  createdAt: number;
}

const Stored = z.record(
  z.string(),
  z.array(
    z.object({ versionId: z.string(), secretString: z.string(), stages: z.array(z.string()), createdAt: z.number() }),
  ),
);

export class LocalSecretsManager {
  private readonly versions = new Map<string, Version[]>();

  constructor(
    private readonly secrets: Readonly<Record<string, LocalSecret>>,
    private readonly opts: { file?: string } = {},
  ) {
    const stored = this.load();
    for (const secret of Object.values(secrets)) {
      const kept = stored[secret.logicalId];
      this.versions.set(
        secret.logicalId,
        kept && kept.length > 0
          ? kept
          : [
              {
                versionId: randomUUID(),
                secretString: initialValue(secret),
                stages: ['AWSCURRENT'],
                createdAt: Date.now(),
              },
            ],
      );
    }
    this.persist();
  }

  /** The secret an id names: its ARN (with or without the random suffix), or its name. */
  private find(secretId: string): LocalSecret {
    const secret = Object.values(this.secrets).find(
      (s) => s.arn === secretId || s.name === secretId || secretId.startsWith(`${s.arn}-`),
    );
    if (!secret) throw new AwsApiError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  /** The current value of a secret (what a test or the CLI reads). */
  current(secretId: string): string {
    const versions = this.versions.get(this.find(secretId).logicalId) ?? [];
    return versions.find((v) => v.stages.includes('AWSCURRENT'))?.secretString ?? '';
  }

  /** PutSecretValue: a new current version; the previous one becomes AWSPREVIOUS. */
  put(secretId: string, secretString: string): Version {
    const secret = this.find(secretId);
    const versions = this.versions.get(secret.logicalId) ?? [];
    for (const v of versions) v.stages = v.stages.includes('AWSCURRENT') ? ['AWSPREVIOUS'] : [];
    const version: Version = { versionId: randomUUID(), secretString, stages: ['AWSCURRENT'], createdAt: Date.now() };
    this.versions.set(secret.logicalId, [...versions.filter((v) => v.stages.length > 0), version]);
    this.persist();
    return version;
  }

  service(): LocalAwsService {
    return {
      targetPrefix: 'secretsmanager.',
      protocol: '1.1',
      handle: async (operation, body) => {
        switch (operation) {
          case 'GetSecretValue': {
            const req = z
              .object({ SecretId: z.string(), VersionId: z.string().optional(), VersionStage: z.string().optional() })
              .parse(body);
            const secret = this.find(req.SecretId);
            const versions = this.versions.get(secret.logicalId) ?? [];
            const version = req.VersionId
              ? versions.find((v) => v.versionId === req.VersionId)
              : versions.find((v) => v.stages.includes(req.VersionStage ?? 'AWSCURRENT'));
            if (!version) {
              throw new AwsApiError(
                'ResourceNotFoundException',
                "Secrets Manager can't find the specified secret value.",
              );
            }
            return {
              ARN: secret.arn,
              Name: secret.name,
              VersionId: version.versionId,
              SecretString: version.secretString,
              VersionStages: version.stages,
              CreatedDate: version.createdAt / 1000,
            };
          }
          case 'PutSecretValue': {
            const req = z.object({ SecretId: z.string(), SecretString: z.string() }).parse(body);
            const secret = this.find(req.SecretId);
            const version = this.put(req.SecretId, req.SecretString);
            return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId, VersionStages: version.stages };
          }
          case 'DescribeSecret': {
            const secret = this.find(z.object({ SecretId: z.string() }).parse(body).SecretId);
            return { ARN: secret.arn, Name: secret.name };
          }
          case 'ListSecrets':
            return { SecretList: Object.values(this.secrets).map((s) => ({ ARN: s.arn, Name: s.name })) };
          default:
            throw new AwsApiError('UnknownOperationException', `operation ${operation} is not supported locally`);
        }
      },
    };
  }

  private load(): z.infer<typeof Stored> {
    const file = this.opts.file;
    if (!file || !existsSync(file)) return {};
    const parsed = Stored.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : {};
  }

  private persist(): void {
    const file = this.opts.file;
    if (!file) return;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify(Object.fromEntries(this.versions)), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }
}

/** What CloudFormation stores at create: the given string, or a generated one (into the template's JSON key). */
function initialValue(secret: LocalSecret): string {
  if (secret.secretString !== undefined) return secret.secretString;
  const g = secret.generate ?? { template: undefined, key: undefined, length: 32, excludePunctuation: false };
  const alphabet = g.excludePunctuation ? LETTERS : LETTERS + PUNCTUATION;
  const generated = Array.from({ length: g.length }, () => alphabet[randomInt(alphabet.length)]).join('');
  if (g.template === undefined || g.key === undefined) return generated;
  const base = z.record(z.string(), z.unknown()).parse(JSON.parse(g.template));
  return JSON.stringify({ ...base, [g.key]: generated });
}
