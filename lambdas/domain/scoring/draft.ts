import { formatInstant, parseInstant, storedInstant } from '../instant.js';
import type {
  Attribution,
  Bant,
  Consent,
  DisqualificationReason,
  Lead,
  Profile,
  Scores,
  Stage,
  Suppression,
} from '../lead.js';

/**
 * A lead inside one scoring run: the fields that events and stage moves change, written in place, with its instants
 * as epoch milliseconds, so applying an event copies no lead and reads or writes no date text. The lead passed in is
 * never written to: its profile, BANT answers, attribution and suppression are copied the first time the run changes
 * them. {@link LeadDraft.toLead} gives the lead back as plain data, down to the order of its keys: the lead's own keys
 * keep their place, keys it did not have follow in the order the run first wrote them (as successive `{ ...lead, key }`
 * copies would leave them), and removed keys are gone.
 */
export class LeadDraft {
  readonly email: string;
  profile: Profile;
  bant: Bant;
  consent: Consent | undefined;
  attribution: Attribution;
  suppression: Suppression;

  stage: Stage;
  stageReason: string;
  disqualification: DisqualificationReason | undefined;
  /** The text is kept as stored (or as the move wrote it); the instant is what it reads back as. */
  stageChangedAt: string;
  stageChangedAtMs: number;

  lastActivityAtMs: number;
  /** Undefined when never set (`hasLeadSince` false); NaN if the stored text is not an instant. */
  leadSinceMs: number | undefined;
  lastEngagedAtMs: number | undefined;

  /** Set by the run from the model: a lead-evidence field (DESIGN §5) is filled in. */
  profileEvidence = false;

  /** Texts of the instants above as stored; undefined once the run has moved the instant (formatted at the end). */
  #lastActivityAt: string | undefined;
  #leadSince: string | undefined;
  #lastEngagedAt: string | undefined;
  #consentAtMs: number | undefined;
  #effectsNoted = false;
  /** Sub-objects that are this run's own copies (bits of {@link BIT}). */
  #owned = 0;
  /**
   * Keys (bits of {@link BIT}): whose presence in the stored lead has been looked up, which the lead has now (stored
   * or added by the run), which the run wrote, which it removed from the stored lead; and the keys it added, in order.
   */
  #known = 0;
  #present = 0;
  #written = 0;
  #removed = 0;
  readonly #added: DraftKey[] = [];

  constructor(readonly before: Lead) {
    this.email = before.email;
    this.profile = before.profile;
    this.bant = before.bant;
    this.consent = before.consent;
    this.attribution = before.attribution;
    this.suppression = before.suppression;
    this.stage = before.stage;
    this.stageReason = before.stageReason;
    this.disqualification = before.disqualification;
    this.stageChangedAt = before.stageChangedAt;
    // Read in the order they most often repeat one another (the last instant read is remembered).
    this.#lastActivityAt = before.lastActivityAt;
    this.lastActivityAtMs = parseInstant(before.lastActivityAt);
    this.#lastEngagedAt = before.lastEngagedAt;
    this.lastEngagedAtMs = before.lastEngagedAt === undefined ? undefined : parseInstant(before.lastEngagedAt);
    this.stageChangedAtMs = parseInstant(before.stageChangedAt);
    this.#leadSince = before.leadSince;
    this.leadSinceMs = before.leadSince === undefined ? undefined : parseInstant(before.leadSince);
  }

  writableProfile(): Profile {
    if (this.#own(BIT.profile)) this.profile = copyOf(this.profile);
    return this.profile;
  }

  writableBant(): Bant {
    if (this.#own(BIT.bant)) this.bant = copyOf(this.bant);
    return this.bant;
  }

  writableAttribution(): Attribution {
    if (this.#own(BIT.attribution)) this.attribution = copyOf(this.attribution);
    return this.attribution;
  }

  writableSuppression(): Suppression {
    if (this.#own(BIT.suppression)) this.suppression = copyOf(this.suppression);
    return this.suppression;
  }

  /** True the first time: the caller copies the sub-object, which is the run's from then on. */
  #own(bit: number): boolean {
    if ((this.#owned & bit) !== 0) return false;
    this.#owned |= bit;
    return true;
  }

  /** When the consent on record was given (epoch ms). */
  consentAtMs(): number | undefined {
    if (!this.consent) return undefined;
    this.#consentAtMs ??= parseInstant(this.consent.at);
    return this.#consentAtMs;
  }

  setConsent(consent: Consent, atMs: number): void {
    this.consent = consent;
    this.#consentAtMs = atMs;
  }

  setLastActivityAt(ms: number): void {
    this.lastActivityAtMs = storedInstant(ms);
    this.#lastActivityAt = undefined;
  }

  setLeadSince(ms: number): void {
    this.leadSinceMs = storedInstant(ms);
    this.#leadSince = undefined;
  }

  setLastEngagedAt(ms: number): void {
    this.lastEngagedAtMs = storedInstant(ms);
    this.#lastEngagedAt = undefined;
  }

  /** The stage fields after a move, stamped `at`. */
  moveTo(stage: Stage, reason: string, disqualification: DisqualificationReason | undefined, at: string): void {
    this.remove('disqualification');
    this.stage = stage;
    this.stageReason = reason;
    this.stageChangedAt = at;
    this.stageChangedAtMs = parseInstant(at);
    this.note('stage');
    this.note('stageReason');
    this.note('stageChangedAt');
    this.disqualification = disqualification;
    if (disqualification !== undefined) this.note('disqualification');
  }

  /** Notes the keys an event's effects write, in the order `{ ...lead, profile, bant, consent, … }` has them. */
  noteEffects(withConsent: boolean): void {
    if (this.#effectsNoted && !withConsent) return;
    this.note('profile');
    this.note('bant');
    if (withConsent) this.note('consent');
    this.note('attribution');
    this.note('suppression');
    this.note('lastActivityAt');
    this.#effectsNoted = true;
  }

  /** Records that the run wrote a key: one the lead did not have goes after the others, as in `{ ...lead, key }`. */
  note(key: DraftKey): void {
    const bit = BIT[key];
    this.#written |= bit;
    if (this.#has(key, bit)) return;
    this.#present |= bit;
    this.#added.push(key);
  }

  /** Removes a key, as `delete` would. */
  remove(key: DraftKey): void {
    const bit = BIT[key];
    if (!this.#has(key, bit)) return;
    this.#present &= ~bit;
    this.#written &= ~bit;
    const added = this.#added.indexOf(key);
    if (added >= 0) this.#added.splice(added, 1);
    else this.#removed |= bit;
  }

  #has(key: DraftKey, bit: number): boolean {
    if ((this.#known & bit) === 0) {
      this.#known |= bit;
      if (Object.hasOwn(this.before, key)) this.#present |= bit;
    }
    return (this.#present & bit) !== 0;
  }

  /** The lead with what the run wrote, `scores` and `reviewAt` (removed when undefined). */
  toLead(scores: Scores | undefined, reviewAt: string | undefined): Lead {
    if (scores !== undefined) this.note('scores');
    if (reviewAt === undefined) this.remove('reviewAt');
    else this.note('reviewAt');
    const lastActivityAt = this.#lastActivityAt ?? formatInstant(this.lastActivityAtMs);
    const leadSince = this.#leadSince ?? (this.leadSinceMs === undefined ? undefined : formatInstant(this.leadSinceMs));
    const lastEngagedAt =
      this.#lastEngagedAt ?? (this.lastEngagedAtMs === undefined ? undefined : formatInstant(this.lastEngagedAtMs));
    if (this.#removed === 0 && this.#added.length === 0) {
      // Every key written was there already: written in place, the lead's order stays.
      const lead: Lead = { ...this.before };
      const w = this.#written;
      if (w & BIT.profile) lead.profile = this.profile;
      if (w & BIT.bant) lead.bant = this.bant;
      if (w & BIT.consent) lead.consent = this.consent;
      if (w & BIT.attribution) lead.attribution = this.attribution;
      if (w & BIT.suppression) lead.suppression = this.suppression;
      if (w & BIT.lastActivityAt) lead.lastActivityAt = lastActivityAt;
      if (w & BIT.leadSince) lead.leadSince = leadSince;
      if (w & BIT.lastEngagedAt) lead.lastEngagedAt = lastEngagedAt;
      if (w & BIT.stage) lead.stage = this.stage;
      if (w & BIT.stageReason) lead.stageReason = this.stageReason;
      if (w & BIT.disqualification) lead.disqualification = this.disqualification;
      if (w & BIT.stageChangedAt) lead.stageChangedAt = this.stageChangedAt;
      if (w & BIT.scores) lead.scores = scores;
      if (w & BIT.reviewAt) lead.reviewAt = reviewAt;
      return lead;
    }
    const values: Pick<Lead, DraftKey> = {
      profile: this.profile,
      bant: this.bant,
      consent: this.consent,
      attribution: this.attribution,
      suppression: this.suppression,
      lastActivityAt,
      leadSince,
      lastEngagedAt,
      stage: this.stage,
      stageReason: this.stageReason,
      disqualification: this.disqualification,
      stageChangedAt: this.stageChangedAt,
      scores,
      reviewAt,
    };
    // Keys come and go: the lead is built from empty, key by key, in the order the old spreads left them.
    const rebuilt: Record<string, unknown> = {};
    for (const key in this.before) {
      if (!Object.hasOwn(this.before, key)) continue;
      const draftKey = isDraftKey(key) ? key : undefined;
      if (draftKey === undefined) rebuilt[key] = this.before[key as keyof Lead];
      else if ((this.#removed & BIT[draftKey]) === 0) {
        rebuilt[key] = (this.#written & BIT[draftKey]) !== 0 ? values[draftKey] : this.before[draftKey];
      }
    }
    for (const key of this.#added) rebuilt[key] = values[key];
    return rebuilt as Lead;
  }
}

/** The lead fields a scoring run writes, each with its bit. */
const BIT = {
  profile: 1 << 0,
  bant: 1 << 1,
  consent: 1 << 2,
  attribution: 1 << 3,
  suppression: 1 << 4,
  lastActivityAt: 1 << 5,
  leadSince: 1 << 6,
  lastEngagedAt: 1 << 7,
  stage: 1 << 8,
  stageReason: 1 << 9,
  disqualification: 1 << 10,
  stageChangedAt: 1 << 11,
  scores: 1 << 12,
  reviewAt: 1 << 13,
} as const satisfies Partial<Record<keyof Lead, number>>;
export type DraftKey = keyof typeof BIT;
const isDraftKey = (key: string): key is DraftKey => Object.hasOwn(BIT, key);

/**
 * A shallow copy of plain data with the keys and order `{ ...o }` gives, built from an empty object: V8 makes
 * adding keys to a spread copy many times slower than to an object built key by key.
 */
export function copyOf<T extends object>(o: T): T {
  const copy: Record<string, unknown> = {};
  for (const key in o) if (Object.hasOwn(o, key)) copy[key] = o[key];
  return copy as T;
}
