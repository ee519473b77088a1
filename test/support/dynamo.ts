import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { keyedAddressHasher } from '../../lambdas/adapters/address-hash.js';
import { DynamoLeadRepository } from '../../lambdas/adapters/dynamo-lead-repository.js';
import { fixedClock } from '../../lambdas/domain/clock.js';
import type { CaptureDeps } from '../../lambdas/domain/capture.js';

/** The suppression key of the tests' repositories (on AWS it is a secret read at run time). */
export const TEST_SUPPRESSION_KEY = 'test-suppression-key-0123456789abcdef0123456789abcdef';

/**
 * A repository on the DynamoDB Local that the project's globalSetup started (env AWS_ENDPOINT_URL_DYNAMODB,
 * TABLE_NAME), or on another table of it.
 */
export function testRepository(tableName?: string): { repo: DynamoLeadRepository; doc: DynamoDBDocumentClient } {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  const table = tableName ?? process.env.TABLE_NAME;
  if (!endpoint || !table) throw new Error('DynamoDB Local is not running: run through vitest (globalSetup)');
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return { repo: new DynamoLeadRepository(doc, table, keyedAddressHasher(TEST_SUPPRESSION_KEY)), doc };
}

/** Capture dependencies on the test table with a controllable clock. */
export function testCaptureDeps(start = '2026-03-02T10:00:00.000Z') {
  const { repo, doc } = testRepository();
  const clock = fixedClock(start);
  const deps: CaptureDeps = { leads: repo, clock, newLeadId: (at) => ulid(at.getTime()) };
  return { deps, repo, doc, clock };
}

/** A unique address per test, so tests sharing one table never collide. */
export const uniqueEmail = (tag = 'lead') => `${tag}.${ulid().toLowerCase()}@example-corp.com`;
