import { readFileSync } from 'node:fs';
import { defaultModel, parseModel, type ScoringModel } from '../domain/scoring/index.js';

/**
 * A scoring model from a JSON file (the CLI's `--model` and `--current`), or the shipped default without one. An
 * invalid model throws, naming the rule and field.
 */
export function loadScoringModel(path?: string): ScoringModel {
  if (!path) return defaultModel;
  return parseModel(JSON.parse(readFileSync(path, 'utf8')) as unknown);
}

/**
 * The model the Lambdas score with: the shipped default, bundled into every function (it is data in
 * lambdas/domain/scoring/default-model.ts, validated at synth). A change to it deploys like any other change.
 */
export const scoringModel: ScoringModel = defaultModel;
