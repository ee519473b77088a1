import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints the plain closing line CI reads ("N passed, N failed, N skipped") after vitest's own summary, with the run's
 * wall time and its slowest files. With `LEADLOOP_TEST_BUDGET_MINUTES` set (`.ci/run` sets it) a run that took longer
 * fails: the suite must stay well inside CI's time, and a slow file is named before it costs a red build.
 */
export default class SummaryReporter implements Reporter {
  private readonly startedAt = Date.now();

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      for (const t of mod.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) failed++;
    }
    const minutes = (Date.now() - this.startedAt) / 60_000;
    const slowest = testModules
      .map((m) => ({ file: m.relativeModuleId, ms: m.diagnostic().duration }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 5)
      .map((m) => `${m.file} ${(m.ms / 1000).toFixed(1)} s`);
    const out = [`\n${passed} passed, ${failed} failed, ${skipped} skipped`, `in ${minutes.toFixed(1)} min`];
    if (slowest.length > 1) out.push(`slowest: ${slowest.join(', ')}`);
    const budget = Number(process.env.LEADLOOP_TEST_BUDGET_MINUTES);
    if (budget > 0 && minutes > budget) {
      out.push(`the run took ${minutes.toFixed(1)} min, over its budget of ${budget} min: speed up the slowest files`);
      process.exitCode = 1;
    }
    process.stdout.write(`${out.join('\n')}\n`);
  }
}
