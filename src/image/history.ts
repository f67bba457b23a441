/** Match config history to layers and turn `created_by` into the instruction people wrote. */
import type { ImageConfig } from './types.js';

/**
 * `/bin/sh -c #(nop)  CMD ["sh"]` → `CMD ["sh"]`; `/bin/sh -c apk add x` → `RUN apk add x`;
 * `RUN /bin/sh -c make # buildkit` → `RUN make`; `|2 A=1 B=2 /bin/sh -c make` → `RUN make`.
 */
export function cleanCreatedBy(createdBy: string | undefined): string | null {
  if (createdBy === undefined) return null;
  let text = createdBy.trim();
  text = text.replace(/\s*# buildkit$/, '');
  const nop = /^\/bin\/sh -c #\(nop\)\s*/.exec(text);
  if (nop) return text.slice(nop[0].length).trim();
  const run = /^(?:RUN\s+)?(?:\|\d+\s+(?:\S+=\S*\s+)*)?\/bin\/(?:ba)?sh -c\s+/.exec(text);
  if (run) return `RUN ${text.slice(run[0].length).trim()}`;
  return text;
}

/**
 * The createdBy of each layer: history entries marked `empty_layer` made no layer (ENV, CMD, …); the others are
 * the layers, in order. When the counts disagree (squashed or hand-made images) the extra layers get null.
 */
export function layerHistory(config: ImageConfig, layerCount: number): (string | null)[] {
  const steps = (config.history ?? []).filter((entry) => !entry.empty_layer);
  return Array.from({ length: layerCount }, (_, i) => cleanCreatedBy(steps[i]?.created_by));
}
