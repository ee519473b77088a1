import type { Stage } from 'aws-cdk-lib/aws-apigateway';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export interface FormRateLimitProps {
  /** The API stage the web ACL protects. */
  readonly stage: Stage;
  /**
   * Requests to the form route one client IP may send per evaluation window before WAF answers 429.
   * @default 100
   */
  readonly limit?: number;
  /**
   * The evaluation window of the rate, in seconds (60, 120, 300 or 600).
   * @default 300
   */
  readonly windowSeconds?: 60 | 120 | 300 | 600;
  /**
   * Path fragment the rate applies to: landing-page forms, the one route anonymous browsers post to.
   * @default '/forms/'
   */
  readonly pathContains?: string;
}

/** The body WAF answers a rate-limited request with, in the shape of the HTTP contract (DESIGN §8). */
export const RATE_LIMITED_BODY = '{"error":"TooManyRequests","message":"too many requests"}';

/**
 * An optional AWS WAF web ACL on the API stage (context `waf=true`): one rate-based rule per client IP on the form
 * route, answering 429 in the contract's JSON shape. Everything else is allowed: `POST /events` comes from a few
 * site backends at volume (its usage plan throttles it per key), and one-click unsubscribes come from a few mail
 * providers' servers, so a per-IP rate there would refuse legitimate traffic.
 */
export class FormRateLimit extends Construct {
  readonly webAcl: CfnWebACL;
  readonly association: CfnWebACLAssociation;

  constructor(scope: Construct, id: string, props: FormRateLimitProps) {
    super(scope, id);
    const metricPrefix = props.stage.node.path.replace(/[^A-Za-z0-9]/g, '');
    const visibility = (metricName: string): CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName,
    });

    this.webAcl = new CfnWebACL(this, 'WebAcl', {
      description: 'Leadloop API: per-IP rate limit on landing-page form posts',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(`${metricPrefix}WebAcl`),
      customResponseBodies: {
        TooManyRequests: { contentType: 'APPLICATION_JSON', content: RATE_LIMITED_BODY },
      },
      rules: [
        {
          name: 'FormPostsPerIp',
          priority: 0,
          action: { block: { customResponse: { responseCode: 429, customResponseBodyKey: 'TooManyRequests' } } },
          statement: {
            rateBasedStatement: {
              aggregateKeyType: 'IP',
              limit: props.limit ?? 100,
              evaluationWindowSec: props.windowSeconds ?? 300,
              scopeDownStatement: {
                byteMatchStatement: {
                  fieldToMatch: { uriPath: {} },
                  positionalConstraint: 'CONTAINS',
                  searchString: props.pathContains ?? '/forms/',
                  textTransformations: [{ priority: 0, type: 'NONE' }],
                },
              },
            },
          },
          visibilityConfig: visibility(`${metricPrefix}FormPostsPerIp`),
        },
      ],
    });

    this.association = new CfnWebACLAssociation(this, 'Association', {
      resourceArn: props.stage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }
}
