import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { ReputationPolicy } from '../lambdas/domain/nurture/sending.js';

export interface SendingReputationProps {
  /** A Leadloop metric by name (Observability.appMetric). */
  readonly metric: (name: string, label?: string) => Metric;
  /** Where the alarms notify. */
  readonly alarmTopic: ITopic;
  /** The brake's limits (the nurture plan's `policy.reputation`). */
  readonly policy: ReputationPolicy;
}

/**
 * The reputation brake on AWS (DESIGN §6): the engagement function publishes Leadloop's own rolling hard-bounce and
 * complaint rates (`ReputationBounceRate`, `ReputationComplaintRate`, percent) whenever it counts one, and
 * `SendingPaused` when the brake pauses marketing sending; an alarm on each tells the operator, who resumes with
 * `POST /sending/resume` once the cause is fixed.
 */
export class SendingReputation extends Construct {
  readonly pausedAlarm: Alarm;
  readonly bounceRateAlarm: Alarm;
  readonly complaintRateAlarm: Alarm;

  constructor(scope: Construct, id: string, props: SendingReputationProps) {
    super(scope, id);
    const action = new SnsAction(props.alarmTopic);
    const alarm = (alarmId: string, metric: Metric, threshold: number, description: string) => {
      const a = new Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      return a;
    };
    this.pausedAlarm = alarm(
      'SendingPaused',
      props.metric('SendingPaused', 'Marketing sending paused'),
      1,
      'The reputation brake paused marketing sending (touches wait). GET /sending says why; fix the list or content, then POST /sending/resume.',
    );
    const rate = (name: string) => props.metric(name).with({ statistic: 'Maximum', period: Duration.minutes(5) });
    this.bounceRateAlarm = alarm(
      'BounceRate',
      rate('ReputationBounceRate'),
      props.policy.maxBounceRate * 100,
      `Leadloop's rolling hard-bounce rate reached the brake's limit (${props.policy.maxBounceRate * 100}%; SES reviews at 5%).`,
    );
    this.complaintRateAlarm = alarm(
      'ComplaintRate',
      rate('ReputationComplaintRate'),
      props.policy.maxComplaintRate * 100,
      `Leadloop's rolling complaint rate reached the brake's limit (${props.policy.maxComplaintRate * 100}%; SES reviews at 0.1%).`,
    );
  }
}
