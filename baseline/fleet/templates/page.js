
(function(){
  var table=document.getElementById('matrix'); if(!table) return;
  var rows=Array.prototype.slice.call(table.tBodies[0].rows);
  var team=document.getElementById('f-team'), sev=document.getElementById('f-sev'),
      cloud=document.getElementById('f-cloud'), only=document.getElementById('f-only'),
      q=document.getElementById('f-q'), shown=document.getElementById('shown');
  var rank={low:0,medium:1,high:2,critical:3};
  rows.forEach(function(r){ r._teams=JSON.parse(r.getAttribute('data-teams')||'[]');
    r._cells=Array.prototype.slice.call(r.querySelectorAll('td.c.f')).map(function(td){
      return [td, JSON.parse(td.getAttribute('data-t')||'[]')]; }); });
  // filters live in the address (#team=payments&sev=high&only=1): a wall screen opens its own view
  function readHash(){
    location.hash.slice(1).split('&').forEach(function(kv){
      var i=kv.indexOf('='); if(i<0) return;
      var k=decodeURIComponent(kv.slice(0,i)), v=decodeURIComponent(kv.slice(i+1));
      var el={team:team,sev:sev,cloud:cloud,q:q}[k];
      if(el){ el.value=v; if(el.value!==v) el.value=''; }
      if(k==='only') only.checked=(v==='1');
    });
  }
  function writeHash(){
    var parts=[];
    [['team',team.value],['sev',sev.value],['cloud',cloud.value],['q',q.value],['only',only.checked?'1':'']]
      .forEach(function(p){ if(p[1]) parts.push(p[0]+'='+encodeURIComponent(p[1])); });
    try { history.replaceState(null,'',parts.length?'#'+parts.join('&'):location.pathname+location.search); }
    catch(e) {}
  }
  function apply(){
    var t=team.value, s=sev.value, c=cloud.value, needle=q.value.toLowerCase(), n=0;
    table.setAttribute('data-sev', s);
    var min = s ? rank[s] : -1;
    rows.forEach(function(r){
      var ok=(!c || r.getAttribute('data-cloud')===c)
        && (!needle || r.getAttribute('data-name').indexOf(needle)>=0)
        && (!t || r._teams.indexOf(t)>=0)
        && (!only.checked || +r.getAttribute('data-worst')>=Math.max(min,0));
      r.hidden=!ok; if(ok) n++;
      r._cells.forEach(function(p){ p[0].classList.toggle('dim', !!t && p[1].indexOf(t)<0); });
    });
    shown.textContent=n;
  }
  function changed(){ apply(); writeHash(); }
  [team,sev,cloud,only,q].forEach(function(el){
    el.addEventListener('input',changed); el.addEventListener('change',changed); });
  // keep the expiry countdown right on a wall screen that shows an old report
  var today=new Date(); var t0=Date.UTC(today.getFullYear(),today.getMonth(),today.getDate());
  Array.prototype.forEach.call(document.querySelectorAll('tr[data-expires]'),function(tr){
    var p=tr.getAttribute('data-expires').split('-'); if(p.length!==3) return;
    var d=Math.round((Date.UTC(+p[0],+p[1]-1,+p[2])-t0)/86400000), cell=tr.querySelector('td.left');
    if(!cell) return;
    cell.textContent = d<0 ? 'EXPIRED '+(-d)+(d===-1?' day':' days')+' ago'
      : d===0 ? 'expires today' : d+(d===1?' day':' days')+' left';
    tr.classList.toggle('expired', d<0); tr.classList.toggle('soon', d>=0 && d<=14);
  });
  readHash();
  apply();
})();
(function(){
  // drill-down, details on click, tiles that follow the team filter, CSV export
  var table=document.getElementById('matrix'), dataEl=document.getElementById('fleet-data');
  if(!table||!dataEl) return;
  var data=JSON.parse(dataEl.textContent||'{}');
  var rows=Array.prototype.slice.call(table.tBodies[0].rows);
  var team=document.getElementById('f-team');
  var panel=document.getElementById('drill'), body=document.getElementById('drill-rows');
  function $(id){ return document.getElementById(id); }
  function text(id, value){ var el=$(id); if(el) el.textContent=value; }
  function json(el, name, dflt){ try { return JSON.parse(el.getAttribute(name)||''); } catch(e) { return dflt; } }
  function clearOn(){ Array.prototype.forEach.call(table.querySelectorAll('.on'),function(el){
    el.classList.remove('on'); }); }
  function drill(control, cluster, detail){
    var c=(data.controls||{})[control]; if(!c) return;
    clearOn();
    text('drill-title', control+' '+c.title+' ('+c.severity+')'+(cluster?' on '+cluster:''));
    var pct=c.judged?Math.round(100*c.failing/c.judged):0;
    text('drill-share','failing on '+c.failing+' of '+c.judged+' clusters it judged ('+pct+'%)'
      +(data.complete?'':' · first subjects per cluster only: record runs (--history) to list every one'));
    text('drill-fix','Fix: '+(c.fix||'-'));
    text('drill-detail', detail||'');
    while(body.firstChild) body.removeChild(body.firstChild);
    var t=team.value, n=0;
    ((data.subjects||{})[control]||[]).forEach(function(s){
      if(cluster && s[0]!==cluster) return;
      if(t && s[2]!==null && s[2]!==t) return;
      var tr=document.createElement('tr');
      [s[0], s[1], s[2]===null?'-':s[2], s[3]===null?'-':String(s[3]), s[4]?'new':''].forEach(function(v,i){
        var td=document.createElement('td'); td.textContent=v; if(i===4&&v) td.className='new'; tr.appendChild(td);
      });
      body.appendChild(tr); n++;
    });
    if(!n){ var tr=document.createElement('tr'), td=document.createElement('td');
      td.colSpan=5; td.textContent='no failing subjects'; tr.appendChild(td); body.appendChild(tr); }
    panel.setAttribute('data-control', control); panel.setAttribute('data-rows', String(n));
    panel.hidden=false;
  }
  table.addEventListener('click',function(ev){
    var el=ev.target.closest?ev.target.closest('th[data-control],td.c'):null; if(!el) return;
    var control=el.getAttribute('data-control');
    if(el.tagName==='TD'){
      var tr=el.parentNode;
      drill(control, tr.getAttribute('data-label'), el.getAttribute('title'));
    } else { drill(control, null, ''); }
    el.classList.add('on');
  });
  table.addEventListener('keydown',function(ev){
    if((ev.key==='Enter'||ev.key===' ') && ev.target.getAttribute && ev.target.getAttribute('data-control')){
      ev.preventDefault(); ev.target.click(); }
  });
  panel.querySelector('.close').addEventListener('click',function(){ panel.hidden=true; clearOn(); });
  // the tiles count what the filters show: clusters, blocked, failing (the team's own when one is chosen), new
  var blockedTile=$('t-blocked'), failTile=$('t-fail'), newTile=$('t-new'), clusterTile=$('t-clusters');
  function recount(){
    var t=team.value, shown=0, blocked=0, fails=0, fresh=0;
    rows.forEach(function(r){
      if(r.hidden) return; shown++;
      if(r.classList.contains('blocked')) blocked++;
      fails += t ? (json(r,'data-team-fails',{})[t]||0) : +r.getAttribute('data-fail');
      fresh += +r.getAttribute('data-new');
    });
    if(t && data.complete){ fresh=0; var seen={}; rows.forEach(function(r){ if(!r.hidden) seen[r.getAttribute('data-label')]=1; });
      Object.keys(data.subjects||{}).forEach(function(k){ data.subjects[k].forEach(function(s){
        if(s[4] && s[2]===t && seen[s[0]]) fresh++; }); }); }
    if(clusterTile) clusterTile.querySelector('b').textContent=shown;
    if(blockedTile) blockedTile.querySelector('b').textContent=blocked;
    if(failTile) failTile.querySelector('b').textContent=fails;
    if(newTile) newTile.querySelector('b').textContent=fresh;
    if(!panel.hidden && panel.getAttribute('data-control')) {
      var on=table.querySelector('th.on[data-control]'); if(on) drill(panel.getAttribute('data-control'), null, '');
    }
  }
  ['f-team','f-sev','f-cloud','f-only','f-q'].forEach(function(id){ var el=$(id); if(!el) return;
    el.addEventListener('input',recount); el.addEventListener('change',recount); });
  recount();
  // CSV of the rows shown (a spreadsheet never runs a cell: = + - @ get a leading ')
  function cell(v){ v=String(v==null?'':v); if(/^[=+\-@\t\r]/.test(v)) v="'"+v;
    return /[",\n\r]/.test(v)?'"'+v.replace(/"/g,'""')+'"':v; }
  window.fleetCsv=function(){
    var heads=Array.prototype.map.call(table.tHead.rows[0].cells,function(th){
      return th.getAttribute('data-control')||th.textContent; });
    var lines=[heads.map(cell).join(',')];
    rows.forEach(function(r){ if(r.hidden) return;
      lines.push(Array.prototype.map.call(r.cells,function(td){
        if(td.classList.contains('c')) return {f:'fail',u:'unknown',x:'excepted',p:'pass',n:'n/a'}[td.classList[1]]||'';
        if(td.classList.contains('name')) return r.getAttribute('data-label');
        return td.textContent; }).map(cell).join(','));
    });
    return lines.join('\n')+'\n';
  };
  $('export-csv').addEventListener('click',function(){
    var csv=window.fleetCsv(), btn=$('export-csv');
    btn.setAttribute('data-rows', String(csv.split('\n').length-2));
    var a=document.createElement('a');
    a.href=URL.createObjectURL(new Blob([csv],{type:'text/csv'})); a.download='fleet-baseline.csv';
    document.body.appendChild(a); a.click(); setTimeout(function(){ URL.revokeObjectURL(a.href); a.remove(); },0);
  });
})();
