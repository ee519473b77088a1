import { readFileSync } from 'node:fs';
import { defaultModel, parseModel, type ScoringModel } from '../domain/scoring/index.js';

/**
 * The scoring model in force: the shipped default (bundled into every Lambda), or a JSON model file named by
 * `LEADLOOP_SCORING_MODEL` (local runtime and CLI). An invalid model throws at start-up, naming the rule and field.
 */
export function loadScoringModel(path = process.env.LEADLOOP_SCORING_MODEL): ScoringModel {
  if (!path) return defaultModel;
  return parseModel(JSON.parse(readFileSync(path, 'utf8')) as unknown);
}

export const scoringModel: ScoringModel = loadScoringModel();
