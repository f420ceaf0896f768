import { serve } from './serve.js';

// The entry of `npm start` and the container image; `budget-gateway serve` runs the same.
await serve();
