/**
 * One self-contained HTML file (inline CSS and JS, no network when opened): a zoomable treemap of the final
 * filesystem (area = bytes, colour = the layer that wrote it) with breadcrumb, hover details and a listing of the
 * directory shown; a layer selector that shows the filesystem as of any layer with what that layer wrote
 * highlighted; a per-layer bar chart linked to each layer's change lists (sized, sortable, every path); waste with
 * explanations, digest checks and platforms. The treemap layout is d3-hierarchy's, inlined from node_modules when
 * the report is written. The size trees (analyze/size-tree.ts) group small files per directory, so a 200k-file
 * image stays responsive.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { formatPlatform } from '../image/platform.js';
import type { PageData } from '../analyze/size-tree.js';
import type { ChangeSizes } from '../analyze/union.js';
import { humanSize, percentText } from './format.js';
import { isMultiReport, type ImageReport, type Report } from './report.js';

/** A layer's colour in the treemap and its legend (one definition: the page's script reads the palette). */
export function layerColour(layer: number): string {
  return `hsl(${(layer * 47) % 360},62%,72%)`;
}

/** JSON inside a <script> element: `</script>` in a path must not end it. */
function json(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function d3HierarchySource(): string {
  // The package's exports map hides dist/; find the package root from its main entry instead.
  const require = createRequire(import.meta.url);
  const main = require.resolve('d3-hierarchy');
  const root = main.slice(0, main.lastIndexOf(`${path.sep}node_modules${path.sep}d3-hierarchy${path.sep}`) + `${path.sep}node_modules${path.sep}d3-hierarchy`.length);
  return readFileSync(path.join(root, 'dist', 'd3-hierarchy.min.js'), 'utf8');
}

/** A change list's sizes as the page reads them (-1: a directory); null when the union did not keep them. */
function sizesOf(sizes: ChangeSizes | undefined): { added: number[]; modified: number[]; removed: number[] } | null {
  return sizes ? { added: Array.from(sizes.added), modified: Array.from(sizes.modified), removed: Array.from(sizes.removed) } : null;
}

function imageSection(image: ImageReport, { trees, perLayer, paths, changeSizes }: PageData, index: number, title: string): string {
  const layers = image.layers;
  const maxBytes = Math.max(1, ...layers.map((layer) => Math.max(layer.compressedSize ?? 0, layer.uncompressedSize ?? 0)));
  // A CSS width, not text anyone reads: CSS wants `12.5%`.
  const pct = (value: number | null | undefined) => `${(((value ?? 0) / maxBytes) * 100).toFixed(2)}%`;
  const bars = layers
    .map((layer) => {
      const c = layer.changes;
      return `<a class="bar" href="#img${index}-layer${layer.index}" title="${escapeHtml(layer.createdBy ?? '')}">
  <span class="label">L${layer.index}</span>
  <span class="track"><span class="compressed" style="width:${pct(layer.compressedSize)}"></span><span class="uncompressed" style="width:${pct(layer.uncompressedSize)}"></span></span>
  <span class="nums">${humanSize(layer.compressedSize)} / ${humanSize(layer.uncompressedSize)} · ${c ? `<b class="add">+${humanSize(c.addedBytes)}</b> <b class="mod">~${humanSize(c.modifiedBytes)}</b> <b class="del">-${humanSize(c.removedBytes)}</b>` : '<b>changes unknown</b>'}</span>
  <span class="step">${escapeHtml(layer.createdBy ?? '')}</span></a>`;
    })
    .join('\n');
  // Every path of every change list, not a first few: the lists are data in the page, drawn when a layer is opened.
  const changeLists = layers
    .map((layer) => {
      const c = layer.changes;
      const counts = c ? ` <small><b class="add">+${c.added.length}</b> <b class="mod">~${c.modified.length}</b> <b class="del">-${c.removed.length}</b></small>` : '';
      const sizes = sizesOf(changeSizes[layer.index]);
      const data = c ? `<script type="application/json" class="change-data">${json({ added: c.added, modified: c.modified, removed: c.removed, sizes })}</script>` : '';
      return `<details id="img${index}-layer${layer.index}"><summary>Layer ${layer.index}: ${escapeHtml(layer.createdBy ?? '(no history)')}${counts}</summary>
<p class="mono">${escapeHtml(layer.digest ?? '')} · ${escapeHtml(layer.mediaType)}</p>${data}<div class="change-lists"></div></details>`;
    })
    .join('\n');
  const legend = layers
    .map((layer) => `<span class="key" data-layer="${layer.index}"><span class="swatch" style="background:${layerColour(layer.index)}"></span>L${layer.index} <span class="step">${escapeHtml((layer.createdBy ?? '').slice(0, 60))}</span></span>`)
    .join('');
  const waste = image.waste;
  const wasteRows = (waste?.hidden ?? [])
    .slice(0, 50)
    .map(
      (entry) =>
        `<tr><td class="num">${humanSize(entry.bytes)}</td><td class="mono">${escapeHtml(entry.path)}</td><td>${entry.how} by layer ${entry.removedBy.layer}</td><td>${escapeHtml(entry.hint)}</td></tr>`,
    )
    .join('');
  const diveRows = (waste?.entries ?? [])
    .slice(0, 50)
    .map(
      (entry) =>
        `<tr><td class="num">${humanSize(entry.cumulativeSize)}</td><td class="num">${humanSize(entry.reclaimableBytes)}</td><td class="mono">${escapeHtml(entry.path)}</td><td>${entry.layers.join(', ')}</td><td>${escapeHtml(entry.explanation.hint)}</td></tr>`,
    )
    .join('');
  const checks = image.verify.checks
    .map((check) => `<tr class="${check.ok ? 'ok' : 'bad'}"><td>${check.ok ? '✓' : '✗'}</td><td>${escapeHtml(check.what)}</td><td class="mono">${escapeHtml(String(check.expected ?? ''))}</td><td class="mono">${escapeHtml(String(check.actual ?? ''))}</td></tr>`)
    .join('');
  // A layer that could not be read: what it left unknown, in the report's own words.
  const blocked = image.blocked.map((entry) => `<p class="alert">✗ ${escapeHtml(entry.reason)}<br><small>unknown because of it: ${escapeHtml(entry.blocks.join(', '))}</small></p>`).join('\n');
  // The whole image's tree, then (with a layer selector) one per earlier layer, each parsed only when chosen.
  const lastTree = trees.at(-1)?.tree ?? null;
  const earlierTrees = perLayer ? trees.slice(0, -1).map((entry, k) => `<script type="application/json" id="tree${index}-${k}">${json(entry.tree)}</script>`).join('\n') : '';
  const selector = perLayer && layers.length > 0
    ? `<label class="as-of">Show the filesystem <select id="layer${index}"><option value="all">of the image (every layer)</option>${layers
        .map((layer) => `<option value="${layer.index}">as of layer ${layer.index}, its changes highlighted: ${escapeHtml((layer.createdBy ?? '').slice(0, 70))}</option>`)
        .join('')}</select></label> <span class="as-of-note" id="asof${index}"></span>`
    : '';
  const platform = formatPlatform({ ...image.platform, variant: image.platform.variant ?? undefined });
  return `<section class="image" data-index="${index}">
<h2>${escapeHtml(title)}${title === platform ? '' : ` <small>${escapeHtml(platform)}</small>`}</h2>
<p class="mono small">Image ID ${escapeHtml(image.configDigest)}${image.manifestDigest ? ` · manifest ${escapeHtml(image.manifestDigest)}` : ''}</p>
<div class="cards">
  <div><b>${humanSize(image.totals.compressedSize)}</b><span>compressed</span></div>
  <div><b>${humanSize(image.totals.uncompressedSize)}</b><span>uncompressed</span></div>
  <div><b>${image.totals.layers}</b><span>layers</span></div>
  <div><b>${image.totals.files ?? '-'}</b><span>files</span></div>
  ${waste ? `<div><b>${percentText(waste.efficiency)}</b><span>efficiency (dive)</span></div><div><b>${humanSize(waste.hiddenBytes)}</b><span>hidden by later layers</span></div>` : ''}
  <div class="${image.verify.ok ? 'good' : 'alert'}"><b>${image.verify.ok ? '✓' : '✗'}</b><span>${image.verify.checks.length} digest checks</span></div>
</div>
${blocked}
<h3>Filesystem</h3>
${paths ? `<div class="search"><input type="search" id="search${index}" placeholder="Search every path (${paths.sizes.length.toLocaleString('en-US')})" autocomplete="off"><ol class="results" id="results${index}"></ol></div>
<script type="application/json" id="paths${index}">${json(paths)}</script>` : ''}
${selector}
<nav class="crumbs" id="crumbs${index}"></nav>
<div class="treemap" id="treemap${index}"></div>
<table class="listing" id="listing${index}"><thead><tr><th>Size</th><th>Name</th><th>Written by</th><th class="own-col">This layer wrote</th></tr></thead><tbody></tbody></table>
<div class="layer-legend">Colour: the layer that wrote the bytes (a directory: the layer that wrote most of what is below it; hatched: small files grouped) ${legend}</div>
<script type="application/json" id="tree${index}">${json(lastTree)}</script>
${earlierTrees}
<script type="application/json" id="steps${index}">${json(layers.map((layer) => layer.createdBy ?? ''))}</script>
<script type="application/json" id="palette${index}">${json(layers.map((layer) => layerColour(layer.index)))}</script>
<h3>Layers</h3>
<div class="legend"><span class="compressed"></span> compressed <span class="uncompressed"></span> uncompressed</div>
<div class="bars">${bars}</div>
<div class="changes">${changeLists}</div>
${waste ? `<h3>Waste</h3>
<p>dive's numbers: efficiency ${percentText(waste.efficiency)}, wasted ${humanSize(waste.wastedBytes)}, user wasted ${percentText(waste.userWastedPercent)}, reclaimable ${humanSize(waste.reclaimableBytes)}. Bytes hidden by later layers (what squashing saves): <b>${humanSize(waste.hiddenBytes)}</b>.</p>
${wasteRows ? `<table><thead><tr><th>Bytes</th><th>Path</th><th>Hidden</th><th>Hint</th></tr></thead><tbody>${wasteRows}</tbody></table>` : ''}
${diveRows ? `<h4>Paths in more than one layer</h4><table><thead><tr><th>Total</th><th>Reclaimable</th><th>Path</th><th>Layers</th><th>Hint</th></tr></thead><tbody>${diveRows}</tbody></table>` : ''}` : ''}
<h3>Digest checks</h3>
<table class="checks"><thead><tr><th></th><th>Check</th><th>Expected</th><th>Actual</th></tr></thead><tbody>${checks}</tbody></table>
</section>`;
}

const CSS = `
:root{--fg:#1d2330;--muted:#6b7385;--bg:#fff;--card:#f4f6fa;--add:#2e9d5b;--mod:#c98a12;--del:#c8443b}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:24px 0 4px}h2 small{color:var(--muted);font-weight:normal}h3{margin:20px 0 8px;font-size:16px}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;word-break:break-all}.small{color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:8px}.cards div{background:var(--card);border-radius:8px;padding:8px 12px;min-width:110px}.cards b{display:block;font-size:18px}.cards span{color:var(--muted);font-size:12px}
.cards .good b{color:var(--add)}.cards .alert b{color:var(--del)}
p.alert{color:var(--del)}
.crumbs{margin:4px 0 6px;font-size:13px}.crumbs a{cursor:pointer;color:#2456c8;text-decoration:none}.crumbs a:hover{text-decoration:underline}
.treemap{position:relative;height:460px;border:1px solid #d5dae3;border-radius:6px;overflow:hidden;background:#eef1f6}
.cell{position:absolute;box-sizing:border-box;border:1px solid rgba(255,255,255,.75);overflow:hidden;font-size:11px;color:#111;padding:2px 3px;white-space:nowrap;text-overflow:ellipsis}
.cell.dir{cursor:zoom-in;font-weight:600}.cell.group{background-image:repeating-linear-gradient(45deg,rgba(255,255,255,.35) 0 4px,transparent 4px 8px)}
.tip{position:fixed;pointer-events:none;word-break:break-all;background:#1d2330;color:#fff;padding:6px 8px;border-radius:6px;font-size:12px;max-width:420px;display:none;z-index:10}
.bars{display:flex;flex-direction:column;gap:4px}.bar{display:grid;grid-template-columns:40px 260px 280px 1fr;gap:8px;align-items:center;color:inherit;text-decoration:none;font-size:12px}
.bar:hover{background:var(--card)}.track{position:relative;height:14px;background:var(--card);border-radius:3px}.track span{position:absolute;left:0;height:7px;border-radius:3px}
.track .compressed,.legend .compressed{background:#4d7cf0;top:0}.track .uncompressed,.legend .uncompressed{background:#9ab3f5;top:7px}
.legend span{display:inline-block;width:12px;height:8px;margin:0 4px 0 10px}.step{color:var(--muted);overflow:hidden;white-space:nowrap;text-overflow:ellipsis}
.search input{width:100%;max-width:520px;padding:5px 8px;font-size:13px;box-sizing:border-box}.results{font-family:ui-monospace,monospace;font-size:12px;max-height:220px;overflow:auto;margin:4px 0;padding-left:0;list-style:none}.results a{color:#2456c8;text-decoration:none}.results .count{color:var(--muted)}
.layer-legend{font-size:12px;margin:6px 0;color:var(--muted);display:flex;flex-wrap:wrap;gap:4px 12px;align-items:center}.layer-legend .key{color:var(--fg)}.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:middle}
.add{color:var(--add)}.mod{color:var(--mod)}.del{color:var(--del)}
details{margin:4px 0}summary{cursor:pointer}button.more{font-size:12px;margin:2px 0 8px 24px}
table.change-list{width:auto;min-width:50%;font-family:ui-monospace,monospace;margin:2px 0 2px 12px}table.change-list td.path{word-break:break-all}th.sort{cursor:pointer;user-select:none}th.sort:hover{text-decoration:underline}th[aria-sort=ascending]::after{content:' ▲'}th[aria-sort=descending]::after{content:' ▼'}
.as-of{font-size:13px;display:inline-block;margin:6px 0}.as-of select{max-width:640px;font-size:13px}.as-of-note{color:var(--muted);font-size:12px}
.cell.own{outline:2px solid #1d2330;outline-offset:-2px;z-index:1}
table.listing{margin:6px 0;max-height:none}table.listing td.dir{cursor:pointer;color:#2456c8}table.listing .own-col{display:none}table.listing.with-own .own-col{display:table-cell}table.listing tr.own td{font-weight:600}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #e3e7ee;vertical-align:top}td.num{text-align:right;white-space:nowrap}
tr.bad td{color:var(--del)}tr.ok td:first-child{color:var(--add)}
`;

const SCRIPT = `
(function(){
  var tip=document.createElement('div');tip.className='tip';document.body.appendChild(tip);
  function size(b){if(b<0)return 'dir';if(b<1000)return b+' B';var u=['kB','MB','GB','TB'],i=-1;do{b/=1000;i++}while(b>=1000&&i<3);return (b>=100?b.toFixed(0):b>=10?b.toFixed(1):b.toFixed(2))+' '+u[i]}
  // Names and build steps come from the image: text, never markup, in the tooltip.
  function esc(t){return String(t).replace(/&/g,'&amp;').replace(/</g,'&lt;').replace(/>/g,'&gt;')}
  // A group of small files carries -1 - the layer that wrote most of it.
  function layerOf(n){return n<0?-1-n:n}
  function cell(tr,text,cls){var td=document.createElement('td');td.textContent=text;if(cls)td.className=cls;tr.appendChild(td);return td}
  // A change list: size and path, sortable by either (a header click; again to reverse), drawn a page at a time:
  // a layer of 200k files would stall the page if drawn whole, and every path is a click away.
  function changeTable(out,title,cls,paths,sizes){
    var h=document.createElement('h4');h.textContent=title+' ('+paths.length+')';h.className=cls;out.appendChild(h);
    var table=document.createElement('table');table.className='change-list';
    var head=document.createElement('tr'),body=document.createElement('tbody'),thead=document.createElement('thead');
    var order=null,key='path',down=false,shown=0,more=document.createElement('button');more.className='more';
    [['size','Size'],['path','Path']].forEach(function(c){var th=document.createElement('th');th.textContent=c[1];th.className='sort'+(c[0]==='size'?' num':'');th.setAttribute('data-key',c[0]);
      if(c[0]==='size'&&!sizes){th.className='num';head.appendChild(th);return}
      th.onclick=function(){down=key===c[0]?!down:c[0]==='size';key=c[0];sort();head.querySelectorAll('th').forEach(function(x){x.removeAttribute('aria-sort')});th.setAttribute('aria-sort',down?'descending':'ascending')};head.appendChild(th)});
    thead.appendChild(head);table.appendChild(thead);table.appendChild(body);out.appendChild(table);out.appendChild(more);
    function sort(){order=paths.map(function(_,k){return k});
      if(key==='size')order.sort(function(a,b){return (down?sizes[b]-sizes[a]:sizes[a]-sizes[b])||a-b});else if(down)order.reverse();
      body.innerHTML='';shown=0;page()}
    function page(){var f=document.createDocumentFragment(),end=Math.min(paths.length,shown+(shown?10000:2000));
      for(;shown<end;shown++){var k=order?order[shown]:shown,tr=document.createElement('tr');if(sizes)tr.setAttribute('data-bytes',sizes[k]);cell(tr,sizes?size(sizes[k]):'','num');cell(tr,paths[k],'path');f.appendChild(tr)}
      body.appendChild(f);
      if(shown<paths.length){more.textContent='show '+Math.min(10000,paths.length-shown)+' more of '+(paths.length-shown);more.style.display=''}else more.style.display='none'}
    more.onclick=page;page();
  }
  function lists(details){
    var data=details.querySelector('script.change-data'),out=details.querySelector('.change-lists');
    if(!data||!out||out.childNodes.length)return;var c=JSON.parse(data.textContent),s=c.sizes;
    [['Added',c.added,'add',s&&s.added],['Modified',c.modified,'mod',s&&s.modified],['Removed',c.removed,'del',s&&s.removed]].forEach(function(k){if(k[1].length)changeTable(out,k[0],k[2],k[1],k[3])});
  }
  document.querySelectorAll('details').forEach(function(d){d.addEventListener('toggle',function(){if(d.open)lists(d)})});
  var selectors={};
  // A layer's bar opens that layer's changes (the link alone would scroll to a closed section) and shows the
  // filesystem as of that layer.
  function openTarget(hash){var m=hash&&/^#img(\\d+)-layer(\\d+)$/.exec(hash),d=hash&&document.getElementById(hash.slice(1));
    if(d&&d.tagName==='DETAILS'){d.open=true;lists(d)}if(m&&selectors[m[1]])selectors[m[1]](m[2])}
  document.querySelectorAll('a.bar').forEach(function(a){a.addEventListener('click',function(){openTarget(a.getAttribute('href'))})});
  document.querySelectorAll('section.image').forEach(function(section){
    var i=section.getAttribute('data-index');var raw=JSON.parse(document.getElementById('tree'+i).textContent);
    var steps=JSON.parse(document.getElementById('steps'+i).textContent);
    var palette=JSON.parse(document.getElementById('palette'+i).textContent);
    function colour(layer){return palette[layerOf(layer)]||'#c9ced8'}
    if(!raw){document.getElementById('treemap'+i).textContent='(no filesystem: the layers were not scanned)';return}
    function toObj(n){return {name:n[0],size:n[1],layer:n[2],own:n[4]||0,children:n[3]?n[3].map(toObj):undefined}}
    function hierarchy(data){return d3.hierarchy(data,function(d){return d.children}).sum(function(d){return d.children?0:d.size}).sort(function(a,b){return b.value-a.value})}
    var last=palette.length-1,roots={},chosen=null,root=hierarchy(toObj(raw));roots[last]=root;
    var box=document.getElementById('treemap'+i),crumbs=document.getElementById('crumbs'+i),listing=document.getElementById('listing'+i),note=document.getElementById('asof'+i),select=document.getElementById('layer'+i);
    function namesOf(n){return n.ancestors().reverse().slice(1).map(function(a){return a.data.name})}
    function pathOf(n){return namesOf(n).join('/')}
    // The deepest directory of the shown tree along a path of names (a layer may not have it yet).
    function find(names){var node=root;for(var k=0;k<names.length;k++){var next=(node.children||[]).find(function(c){return c.data.name===names[k]&&c.children});if(!next)break;node=next}return node}
    var focusNames=[];
    function own(d){return chosen===null?0:d.own}
    function describe(d,value){var by=layerOf(d.layer),most=d.children||d.layer<0?' · mostly layer ':' · layer ';
      return size(value)+most+by+(own(d)?' · layer '+chosen+' wrote '+size(own(d))+' of it':'')}
    function showListing(focus){
      var body=listing.tBodies[0];body.innerHTML='';listing.classList.toggle('with-own',chosen!==null);
      // Exact figures ride along as attributes: the page's text is rounded, a reader (or a test) may want bytes.
      (focus.children||[]).forEach(function(c){var tr=document.createElement('tr');if(own(c.data))tr.className='own';
        tr.setAttribute('data-name',c.data.name);tr.setAttribute('data-bytes',c.value);tr.setAttribute('data-own',own(c.data));
        cell(tr,size(c.value),'num');var name=cell(tr,c.data.name+(c.data.children?'/':''),'mono');
        if(c.data.children){name.className='mono dir';name.onclick=function(){show(c)}}
        var by=cell(tr,'');var sw=document.createElement('span');sw.className='swatch';sw.style.background=colour(c.data.layer);by.appendChild(sw);
        by.appendChild(document.createTextNode((c.data.children||c.data.layer<0?'mostly ':'')+'L'+layerOf(c.data.layer)));
        cell(tr,own(c.data)?size(own(c.data)):'','num own-col');body.appendChild(tr)});
    }
    function show(focus){
      focusNames=namesOf(focus);box.innerHTML='';crumbs.innerHTML='';
      focus.ancestors().reverse().forEach(function(a,k,all){var el=document.createElement('a');el.textContent=k===0?'/':a.data.name;el.onclick=function(){show(a)};crumbs.appendChild(el);if(k<all.length-1)crumbs.appendChild(document.createTextNode(k===0?' ':' / '))});
      var w=box.clientWidth,h=box.clientHeight,sub=hierarchy(focus.data);
      d3.treemap().size([w,h]).paddingInner(1).paddingTop(function(n){return n.depth===1&&n.children?14:0}).round(true)(sub);
      sub.descendants().forEach(function(n){
        if(n.depth===0||n.depth>2)return;if(n.depth===2&&!n.parent.children)return;
        var ww=n.x1-n.x0,hh=n.y1-n.y0;if(ww<2||hh<2)return;
        var el=document.createElement('div');el.className='cell'+(n.data.children?' dir':'')+(n.data.layer<0?' group':'');
        // As of a layer: a cell is as opaque as the share of its bytes that layer wrote, outlined when that is most
        // of them (a directory frame is neither: its cells say it).
        if(chosen!==null&&!(n.data.children&&n.depth===1)){var share=n.value?own(n.data)/n.value:0;el.style.opacity=String(0.2+0.8*share);if(share>0.5)el.className+=' own'}
        el.style.left=n.x0+'px';el.style.top=n.y0+'px';el.style.width=ww+'px';el.style.height=hh+'px';
        el.style.background=n.data.children&&n.depth===1?'rgba(255,255,255,.25)':colour(n.data.layer);
        if(ww>30&&hh>12)el.textContent=n.data.name;
        var full=(pathOf(focus)?'/'+pathOf(focus):'')+'/'+n.ancestors().reverse().slice(1).map(function(a){return a.data.name}).join('/');
        el.onmousemove=function(e){e.stopPropagation();
          tip.innerHTML='<b>'+esc(full)+'</b><br>'+describe(n.data,n.value)+'<br>'+esc((steps[layerOf(n.data.layer)]||'').slice(0,200));
          tip.style.display='block';var tw=tip.offsetWidth,th=tip.offsetHeight;
          tip.style.left=Math.max(4,Math.min(e.clientX+14,window.innerWidth-tw-8))+'px';tip.style.top=(e.clientY+th+24>window.innerHeight?e.clientY-th-10:e.clientY+14)+'px'};
        el.onmouseleave=function(){tip.style.display='none'};
        // Clicking a directory, or anything drawn inside one, zooms into that directory.
        var zoomTo=n.data.children?n:(n.depth===2?n.parent:null);
        if(zoomTo){el.style.cursor='zoom-in';el.onclick=function(e){e.stopPropagation();var target=focus;zoomTo.ancestors().reverse().slice(1).forEach(function(a){target=(target.children||[]).find(function(c){return c.data===a.data})||target});tip.style.display='none';show(target)}}
        box.appendChild(el);
      });
      showListing(focus);
    }
    // The layer selector: the tree as of layer k (layers 0…k applied), parsed the first time it is chosen; the
    // directory shown stays the same where that layer has it.
    function choose(value){
      chosen=value==='all'?null:Number(value);var k=chosen===null?last:chosen;
      if(!roots[k]){var el=document.getElementById('tree'+i+'-'+k);if(!el)return;roots[k]=hierarchy(toObj(JSON.parse(el.textContent)))}
      root=roots[k];if(select&&select.value!==String(value))select.value=String(value);
      if(note)note.textContent=chosen===null?'':'layer '+chosen+' wrote '+size(root.data.own||0)+' of the '+size(root.value)+' there as of it';
      show(find(focusNames));
    }
    if(select){select.addEventListener('change',function(){choose(select.value)});selectors[i]=choose}
    show(root);
    // Search: every path, matched as a case-insensitive substring; a result opens its directory in the treemap.
    var index=document.getElementById('paths'+i),input=document.getElementById('search'+i),results=document.getElementById('results'+i);
    if(index&&input){
      var all=JSON.parse(index.textContent),paths=all.paths?all.paths.split('\\n'):[],lower=null,timer=null;
      function search(){
        results.innerHTML='';var q=input.value.trim().toLowerCase();if(!q)return;
        if(!lower)lower=paths.map(function(p){return p.toLowerCase()});
        var found=0,f=document.createDocumentFragment();
        for(var k=0;k<lower.length;k++){if(lower[k].indexOf(q)<0)continue;found++;if(found>100)continue;
          var li=document.createElement('li'),a=document.createElement('a');a.textContent=paths[k];a.href='#';
          (function(p){a.onclick=function(e){e.preventDefault();show(find(p.split('/').slice(1)));box.scrollIntoView({block:'nearest'})}})(paths[k]);
          li.appendChild(a);li.appendChild(document.createTextNode(' '+size(all.sizes[k])+' · layer '+all.layers[k]));f.appendChild(li)}
        var head=document.createElement('li');head.className='count';head.textContent=found+' path'+(found===1?'':'s')+(found>100?' (first 100 shown)':'');
        results.appendChild(head);results.appendChild(f)}
      input.addEventListener('input',function(){clearTimeout(timer);timer=setTimeout(search,120)});
    }
    window.addEventListener('resize',function(){show(find(focusNames))});
  });
  openTarget(location.hash);
})();
`;

export function renderHtml(report: Report, drawn: PageData[], platformsTable: string | null): string {
  const images = isMultiReport(report) ? report.images : [report];
  const title = report.source.kind === 'registry' || report.source.kind === 'daemon' ? (report.source.reference ?? report.source.input) : report.source.input;
  const sections = images
    .map((image, i) => imageSection(image, drawn[i] ?? { trees: [], perLayer: false, paths: null, changeSizes: [] }, i, images.length > 1 ? formatPlatform({ ...image.platform, variant: image.platform.variant ?? undefined }) : title))
    .join('\n');
  // Images the run could not report (--all-platforms): named, with why, so the page is not silently partial.
  const errors = isMultiReport(report) ? report.errors.map((error) => `<p class="alert">✗ ${escapeHtml(error.platform ?? 'image')} ${escapeHtml(error.manifestDigest ?? '')}: ${escapeHtml(error.message)}</p>`).join('\n') : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>layerlens: ${escapeHtml(title)}</title>
<style>${CSS}</style></head>
<body>
<h1>layerlens report: ${escapeHtml(title)}</h1>
<p class="small">${escapeHtml(report.source.input)} · ${escapeHtml(report.source.kind)} · ${new Date().toISOString().slice(0, 19).replace('T', ' ')} UTC</p>
${errors}
${platformsTable ?? ''}
${sections}
<script>${d3HierarchySource()}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}

export function platformsHtml(platforms: { os: string; architecture: string; variant: string | null; digest: string | null; compressedSize: number | null; available: boolean; sharedLayers: number; layers: number | null }[]): string {
  if (platforms.length === 0) return '';
  const rows = platforms
    .map(
      (entry) =>
        `<tr><td>${escapeHtml([entry.os, entry.architecture, entry.variant].filter(Boolean).join('/'))}</td><td class="mono">${escapeHtml(entry.digest ?? '')}</td><td class="num">${humanSize(entry.compressedSize)}</td><td>${entry.layers === null ? '-' : `${entry.sharedLayers}/${entry.layers} shared`}</td><td>${entry.available ? '' : 'not in this source'}</td></tr>`,
    )
    .join('');
  return `<h3>Platforms</h3><table><thead><tr><th>Platform</th><th>Manifest</th><th>Compressed</th><th>Layers</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
}

