import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import * as z from 'zod';

/** The keys of a new event item, as they appear in the table's stream (validated, never cast). */
export const StreamEventKey = z.object({
  pk: z.string().startsWith('LEAD#'),
  sk: z.string().startsWith('EVENT#'),
});

/** Lead id and event id of a stream record that inserted an event item; undefined for any other record. */
export function insertedEvent(record: DynamoDBRecord): { leadId: string; eventId: string } | undefined {
  if (record.eventName !== 'INSERT' || !record.dynamodb?.Keys) return undefined;
  const parsed = StreamEventKey.safeParse(unmarshall(record.dynamodb.Keys as Record<string, AttributeValue>));
  if (!parsed.success) return undefined;
  return { leadId: parsed.data.pk.slice('LEAD#'.length), eventId: parsed.data.sk.slice('EVENT#'.length) };
}
