/**
 * The runtime settings the Dockerfile's final stage gives the gateway, which the bench gives our
 * own proxies too (test/deploy/deploy-files.test.ts holds the two together; our environment may
 * override them). MALLOC_ARENA_MAX is glibc's: two malloc arenas instead of up to eight per core,
 * so memory one thread frees (the ledger's, the request thread's) can serve the next allocation of
 * another instead of staying in its own arena (bench/README.md, "Memory").
 */
export const AS_SHIPPED_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
