// npm audit of the production dependencies: fails on any high or critical advisory. When the
// registry's advisory endpoint cannot be asked (an offline mirror answers 405), it says so loudly
// and does not fail: the check was not made, which is different from a finding.
import { spawnSync } from 'node:child_process';

const run = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8' });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  console.error(`npm audit: unreadable answer (exit ${run.status}): ${run.stderr.trim().slice(0, 300)}`);
  process.exit(1);
}
const counts = report.metadata?.vulnerabilities;
if (!counts) {
  console.error(`npm audit: NOT CHECKED, the advisory endpoint could not be asked: ${report.message ?? report.error?.summary ?? 'no report'}`);
  process.exit(0);
}
const serious = (counts.high ?? 0) + (counts.critical ?? 0);
console.log(`npm audit (production): ${JSON.stringify(counts)}`);
if (serious > 0) {
  console.error(`npm audit: ${serious} high or critical advisories in production dependencies`);
  process.exit(1);
}
