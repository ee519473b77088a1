/**
 * Counts the DynamoDB capacity a piece of code consumes: a middleware on a client asks every data-plane call for
 * ReturnConsumedCapacity and adds up what comes back, so the code under measurement stays unchanged.
 */
import type { ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-dynamodb';
import type { MiddlewareStack } from '@smithy/types';
import * as z from 'zod';

const Capacity = z.object({
  CapacityUnits: z.number().optional(),
  ReadCapacityUnits: z.number().optional(),
  WriteCapacityUnits: z.number().optional(),
});
const ConsumedOutput = z.object({ ConsumedCapacity: z.union([Capacity, z.array(Capacity)]).optional() });

/** Data-plane calls that accept ReturnConsumedCapacity (low-level and document-client names). */
const COUNTED =
  /^(Get|Put|Update|Delete|Query|Scan|BatchGet|BatchWrite|TransactGet|TransactWrite)(Item|Items)?Command$/;
const READS = /^(Get|Query|Scan|BatchGet|TransactGet)/;

export interface Tally {
  calls: number;
  readUnits: number;
  writeUnits: number;
  /** Conditional writes refused (duplicates): AWS bills them, but an error carries no ConsumedCapacity. */
  conditionFailures: number;
  /** Write units per command name (`TransactWriteCommand`, `PutCommand`, …), for the breakdown a figure is made of. */
  writeUnitsByCommand: Record<string, number>;
}
export const tally: Tally = { calls: 0, readUnits: 0, writeUnits: 0, conditionFailures: 0, writeUnitsByCommand: {} };
export const resetTally = () =>
  Object.assign(tally, { calls: 0, readUnits: 0, writeUnits: 0, conditionFailures: 0, writeUnitsByCommand: {} });

/** `TransactWriteCommand 8.00, PutCommand 1.00` per item: the write units of a tally by command, divided by `n`. */
export const writeBreakdown = (t: Tally, n: number): string =>
  Object.entries(t.writeUnitsByCommand)
    .sort((a, b) => b[1] - a[1])
    .map(([command, units]) => `${command.replace(/Command$/, '')} ${(units / n).toFixed(2)}`)
    .join(', ');

export function countCapacity(stack: MiddlewareStack<ServiceInputTypes, ServiceOutputTypes>): void {
  stack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? '';
      if (!COUNTED.test(command)) return next(args);
      Object.assign(args.input, { ReturnConsumedCapacity: 'TOTAL' });
      tally.calls++;
      try {
        const result = await next(args);
        const parsed = ConsumedOutput.safeParse(result.output);
        const consumed = parsed.success ? parsed.data.ConsumedCapacity : undefined;
        for (const c of consumed === undefined ? [] : Array.isArray(consumed) ? consumed : [consumed]) {
          const read = c.ReadCapacityUnits ?? (READS.test(command) ? (c.CapacityUnits ?? 0) : 0);
          const write = c.WriteCapacityUnits ?? (READS.test(command) ? 0 : (c.CapacityUnits ?? 0));
          tally.readUnits += read;
          tally.writeUnits += write;
          if (write > 0) tally.writeUnitsByCommand[command] = (tally.writeUnitsByCommand[command] ?? 0) + write;
        }
        return result;
      } catch (e) {
        if (e instanceof Error && /ConditionalCheckFailed|TransactionCanceled/.test(e.name)) tally.conditionFailures++;
        throw e;
      }
    },
    { step: 'initialize', name: 'benchCapacityCounter', override: true },
  );
}
