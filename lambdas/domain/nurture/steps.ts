import * as z from 'zod';
import { Arm } from '../lead.js';
import type { NurtureDecision } from './evaluation.js';

/**
 * The data that flows through a nurture state machine. Every task returns the whole state document (the state
 * machine keeps only the Lambda's payload, `OutputPath: $.Payload`), so each state's input is the previous task's
 * result and the Choice states read fields of it by the paths below.
 */

/** What a run is started with (`startId` tells one start request from a repeat of it). */
export const NurtureExecutionInput = z.object({
  leadId: z.string().min(1),
  track: z.string().min(1),
  /** On a track that runs an experiment: the lead's arm and the experiment (fixed for the run). */
  arm: Arm.optional(),
  experimentId: z.string().optional(),
  startId: z.string().optional(),
});
export type NurtureExecutionInput = z.infer<typeof NurtureExecutionInput>;

/**
 * What every task receives: the lead, the track, the 1-based touch, and the run's execution name; on a track that
 * runs an experiment also the lead's arm and the experiment id, read from the run's input (so they never change
 * mid-run) and handed on in every result, where the "Holdout group?" choices read the arm.
 */
export const NurtureTaskInput = z.object({
  leadId: z.string().min(1),
  track: z.string().min(1),
  touch: z.number().int().min(1),
  executionName: z.string().min(1),
  arm: Arm.optional(),
  experimentId: z.string().optional(),
});
export type NurtureTaskInput = z.infer<typeof NurtureTaskInput>;

export const TOUCH_OUTCOMES = ['sent', 'held_out', 'deferred', 'skipped', 'failed'] as const;
export type TouchOutcome = (typeof TOUCH_OUTCOMES)[number];

/** A step's error as Step Functions reports it (`Catch` … `ResultPath: $.error`). */
export const StepError = z.object({ Error: z.string(), Cause: z.string().optional() });
export type StepError = z.infer<typeof StepError>;

export interface TouchResult extends NurtureTaskInput {
  outcome: TouchOutcome;
  reason: string;
  /** When a deferred touch is tried again (second-precise, for the wait's `TimestampPath`). */
  resumeAt?: string;
  template?: string;
  variant?: string;
  /** The content variant of a touch under a content test (experiments.ts). */
  contentVariant?: string;
  messageId?: string;
  /** Set when the outcome is `failed` (the mail service refused the message for good). */
  error?: StepError;
}

export interface EvaluateResult extends NurtureTaskInput {
  decision: NurtureDecision;
}

export interface HandoffResult extends NurtureTaskInput {
  /** The promotion sales received (null if the lead left the hand-off stage before this step ran). */
  promotionId: string | null;
}

/** Input of "Record failure": any state's input with the caught error at `$.error`. */
export const RecordFailureInput = z.object({
  leadId: z.string().min(1),
  track: z.string().min(1),
  executionName: z.string().min(1),
  error: StepError,
});
export type RecordFailureInput = z.infer<typeof RecordFailureInput>;

/** The JSONPath of each field the state machines read. */
export const STEP_PATHS = {
  leadId: '$.leadId',
  arm: '$.arm',
  outcome: '$.outcome',
  resumeAt: '$.resumeAt',
  decision: '$.decision',
  error: '$.error',
} as const;
