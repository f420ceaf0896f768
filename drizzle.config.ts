import { defineConfig } from 'drizzle-kit';

// drizzle-kit only generates the SQL; src/db/migrate.ts applies it (with a lock, and down files).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
});
