import { createLeadloopApp } from '../lib/leadloop-app.js';

/**
 * `npx cdk synth|deploy` (see cdk.json). Context: `stage` (dev|prod), `allowedOrigins`, `senderEmail`,
 * `destroyOnRemoval`, e.g. `npx cdk deploy -c stage=prod -c allowedOrigins=https://www.example.com`.
 * The stack is environment-agnostic (no lookups), so synth works offline.
 */
createLeadloopApp();
