/** The document `diff` prints: both sides in brief, what changed between them, and both sides' checks. */
import type { ImageDiff, rollUp } from '../analyze/diff.js';
import type { ImageReport, SourceReport } from './report.js';

export interface DiffSide {
  source: SourceReport;
  configDigest: string;
  manifestDigest: string | null;
  platform: ImageReport['platform'];
  totals: ImageReport['totals'];
  efficiency: number;
  wastedBytes: number;
  hiddenBytes: number;
}

export interface DiffReport {
  schemaVersion: number;
  command: 'diff';
  a: DiffSide;
  b: DiffSide;
  diff: ImageDiff & { directories: ReturnType<typeof rollUp> };
  verify: ImageReport['verify'];
}
