import { createLeadloopApp } from '../lib/leadloop-app.js';

/**
 * `npx cdk synth|deploy` (see cdk.json). Context (lib/leadloop-config.ts): `stage` (dev|prod), `allowedOrigins`,
 * `senderEmail`, `siteUrl`, `mailingAddress`, `alarmEmail`, `waf` (true puts a WAF rate limit on the form route),
 * `destroyOnRemoval`, e.g.
 * `npx cdk deploy -c stage=prod -c allowedOrigins=https://www.example.com -c senderEmail=news@example.com -c alarmEmail=ops@example.com`.
 * The stack is environment-agnostic (no lookups), so synth works offline.
 */
createLeadloopApp();
