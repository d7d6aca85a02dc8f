/**
 * Prints where a .cpuprofile's time went (bench/lib/cpuprofile.ts), e.g. one `npm run bench --
 * --profile` wrote:
 *
 *   npx tsx bench/profile-summary.ts bench/results/profiles/<stamp>/gateway/CPU.*.0.001.cpuprofile [--top 25]
 */
import { parseArgs } from 'node:util';
import { type Share, summarize } from './lib/cpuprofile.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '20' } },
});
if (positionals.length === 0) {
  process.stderr.write('usage: npx tsx bench/profile-summary.ts <file.cpuprofile>... [--top n]\n');
  process.exit(2);
}
const show = (title: string, list: Share[]) => {
  process.stdout.write(`\n${title}\n`);
  for (const s of list)
    process.stdout.write(`  ${String(s.pct).padStart(5)}%  ${String(s.ms).padStart(7)} ms  ${s.name}\n`);
};
for (const file of positionals) {
  const s = summarize(file, undefined, Number(values.top));
  process.stdout.write(
    `${file}\n  window ${s.windowMs} ms, busy ${s.busyMs} ms (${Math.round(s.busyShare * 100)}%)\n`,
  );
  show('self time by function', s.topFunctions);
  show('self time by area', s.byArea);
  show('charged to the nearest caller of ours or a package', s.byOwner);
  show('themes (inclusive, overlapping)', s.themes);
}
