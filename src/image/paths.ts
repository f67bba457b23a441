/**
 * Paths inside an image, resolved lexically as an extractor resolves them under its root: empty and `.`
 * components dropped, `..` takes back one component and never climbs above the root. The one rule for member
 * names of an archive (fetch/tree.ts) and entry paths of a layer (analyze/union.ts).
 */

/** Clean components of a path (`a/./b/../c` → [a, c]; `../../etc` → [etc]). */
export function pathParts(path: string): string[] {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts;
}
