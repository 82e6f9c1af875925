
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
