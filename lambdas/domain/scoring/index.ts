/**
 * Lead scoring (DESIGN §5): the model as data, fit and engagement scoring, and the one function the pipeline
 * calls. Stage rules live in ../lifecycle.ts, the sweep's rules in ../requalification.ts.
 */
export { applyEvents, rescore, type ScoringResult } from './apply.js';
export { defaultModel } from './default-model.js';
export { decayedEngagement } from './engagement.js';
export { isLeadActivity } from './effects.js';
export { gradeFor, readQuantity } from './fit.js';
export {
  EngagementRule,
  FitField,
  FitRule,
  Intent,
  ScoringModel,
  ScoringModelError,
  parseModel,
  type ScoringModelInput,
} from './model.js';
