import {
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  StartExecutionCommand,
  StopExecutionCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { NurtureRun } from '../domain/nurture/enrollment.js';
import type { NurtureStart, NurtureStarter } from '../domain/nurture/ports.js';

/** `NURTURE_STATE_MACHINES`: `{"<track>": "<state machine ARN>"}`, set by the NurtureWorkflows construct. */
export const NurtureStateMachines = z.record(z.string().min(1), z.string().startsWith('arn:'));
export type NurtureStateMachines = z.infer<typeof NurtureStateMachines>;

/**
 * Starts nurture runs as Step Functions executions named by the run (`StartExecution` with `name`). Step Functions
 * refuses a name it has seen with another input (`ExecutionAlreadyExists`), and answers a repeat with the same input
 * while the first runs as if it had started it; so every start carries its own `startId` in the input, and any
 * repeat of a name is refused, whenever it comes: `already_running`.
 */
export class SfnNurtureStarter implements NurtureStarter {
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachines: NurtureStateMachines,
  ) {}

  private arnOf(track: string): string {
    const arn = this.stateMachines[track];
    if (!arn) throw new Error(`no nurture state machine for track "${track}" (NURTURE_STATE_MACHINES)`);
    return arn;
  }

  async start(input: NurtureStart): Promise<'started' | 'already_running'> {
    try {
      await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.arnOf(input.track),
          name: input.executionName,
          input: JSON.stringify({
            leadId: input.leadId,
            track: input.track,
            ...(input.arm !== undefined && { arm: input.arm, experimentId: input.experimentId }),
            startId: randomUUID(),
          }),
        }),
      );
      return 'started';
    } catch (e) {
      if (e instanceof ExecutionAlreadyExists) return 'already_running';
      throw e;
    }
  }

  async stop(run: NurtureRun): Promise<'stopped' | 'not_running'> {
    const executionArn = `${this.arnOf(run.track).replace(':stateMachine:', ':execution:')}:${run.executionName}`;
    try {
      await this.sfn.send(new StopExecutionCommand({ executionArn, cause: 'lead left the track (enrollment)' }));
      return 'stopped';
    } catch (e) {
      if (e instanceof ExecutionDoesNotExist) return 'not_running';
      throw e;
    }
  }
}
