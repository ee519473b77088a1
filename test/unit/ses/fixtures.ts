import { readFileSync } from 'node:fs';

/** The SES fixtures, each an EventBridge event as it arrives in an SQS message body. */
export const FIXTURES = [
  'send',
  'delivery',
  'open',
  'click-human',
  'click-machine',
  'bounce-permanent',
  'bounce-transient',
  'complaint',
  'reject',
  'delivery-delay',
  'rendering-failure',
  'subscription-unsubscribe',
] as const;
export type FixtureName = (typeof FIXTURES)[number] | 'malformed';

/** The fixture's text, exactly as an SQS body carries it. */
export function fixtureBody(name: FixtureName): string {
  return readFileSync(new URL(`../../fixtures/ses/${name}.json`, import.meta.url), 'utf8');
}

/** A JSON value, for tests that edit a fixture before parsing it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The fixture as a JSON object, to edit: the EventBridge event, whose `detail` is the SES record. */
export function fixtureEvent(name: FixtureName): { [key: string]: Json } & { detail: { [key: string]: Json } } {
  const parsed: unknown = JSON.parse(fixtureBody(name));
  if (!isJsonObject(parsed) || !isJsonObject(parsed.detail)) throw new Error(`fixture ${name} is not an event`);
  return { ...parsed, detail: parsed.detail };
}

export function isJsonObject(value: unknown): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object member of a JSON object, failing the test if it is not one. */
export function objectAt(value: { [key: string]: Json }, key: string): { [key: string]: Json } {
  const member = value[key];
  if (!isJsonObject(member)) throw new Error(`${key} is not an object`);
  return member;
}
