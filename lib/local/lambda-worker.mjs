// One local Lambda container (lib/local/lambda.ts): TypeScript handler modules load through tsx, as under `npm start`.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./lambda-worker.ts', import.meta.url).href);
