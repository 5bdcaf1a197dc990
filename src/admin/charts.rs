//! The stats page's charts, drawn here as inline SVG so they show without script:
//! per frontend and backend, requests/s with errors/s, and p50/p99 latency, over the
//! last ten minutes; per backend, a state strip for each server. A small inline
//! script ([`SCRIPT`]) redraws them every 2 s from `GET /api/history` (same geometry,
//! same page, no other fetch) and the tables every 5 s from the page itself.

use std::fmt::Write;

use super::history::{Entity, View, WINDOW_MS};
use crate::control::history::{Mark, Rates, SAMPLE_EVERY};

/// The charts' drawing box (stretched to the card's width).
const W: f64 = 600.0;
const H: f64 = 80.0;
/// A server strip's height.
const STRIP: f64 = 10.0;

pub const STYLE: &str = "#charts .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:10px;align-items:start}\
.card{border:1px solid #ccd;border-radius:4px;padding:6px 8px;background:#fafafd;min-width:0}\
.card .ct{display:flex;justify-content:space-between;align-items:baseline;gap:8px}\
.card .ct small{color:#666}.lg{font-size:12px;color:#444;margin:2px 0}\
.lg span{margin-right:8px;white-space:nowrap}.lg b{font-variant-numeric:tabular-nums}\
.lg span:before{content:'';display:inline-block;width:10px;height:3px;margin:0 4px 3px 0;background:currentColor}\
.ch{position:relative;margin:2px 0}.ch svg{display:block;width:100%;height:80px;background:#fff;border:1px solid #e2e2ea}\
.ym{position:absolute;top:1px;left:3px;font-size:10px;color:#777}\
svg path{fill:none;stroke-width:1.6;vector-effect:non-scaling-stroke;stroke-linejoin:round}\
svg line.g{stroke:#eee;vector-effect:non-scaling-stroke}\
.k-req{color:#2a6fdb}.k-err{color:#d33}.k-p50{color:#2a9d8f}.k-p99{color:#e07a1f}\
path.req{stroke:#2a6fdb}path.err{stroke:#d33}path.p50{stroke:#2a9d8f}path.p99{stroke:#e07a1f}\
.tl{display:flex;align-items:center;gap:6px;font-size:11px;margin:2px 0}\
.tl span{flex:0 0 7em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\
.tl svg{flex:1;min-width:0;height:10px;background:#f2f2f2}\
rect.up{fill:#5cb85c}rect.down{fill:#d9534f}rect.drain{fill:#5b8def}rect.maint{fill:#999}\
rect.changing{fill:#f0c419}rect.chg{fill:#222}\
.xa{display:flex;justify-content:space-between;font-size:10px;color:#777}";

/// Redraws the charts from `/api/history` with the geometry of the functions below
/// (`nice`, `path`, `strip`), and swaps in the `live` parts (meta lines, tables) of a
/// fresh copy of the page; a frontend or backend added or removed reloads the page.
pub const SCRIPT: &str = r#"(function(){
var W=600,H=80,S=10,WIN=@WIN@,IV=@IV@;
function nice(v){if(!(v>0))return 1;var e=Math.pow(10,Math.floor(Math.log10(v)));var m=[1,2,5];for(var i=0;i<3;i++)if(m[i]*e>=v)return m[i]*e;return 10*e}
function num(v){return v==null?'-':v>=100?v.toFixed(0):v>=10?v.toFixed(1):v.toFixed(2)}
function x(t,t0){return (t-t0)/WIN*W}
function path(ts,vs,t0,top){var d='',on=false;for(var i=0;i<ts.length;i++){var v=vs[i];if(v==null){on=false;continue}d+=(on?'L':'M')+x(ts[i],t0).toFixed(1)+' '+(H-1-v/top*(H-2)).toFixed(1);on=true}return d}
function top(a,b){var m=0;a.concat(b).forEach(function(v){if(v!=null&&v>m)m=v});return nice(m)}
function chart(card,name,ts,t0,a,b,k,unit){var svg=card.querySelector('svg[data-chart='+name+']');if(!svg)return;var t=top(a,b);
svg.querySelector('path.'+k[0]).setAttribute('d',path(ts,a,t0,t));svg.querySelector('path.'+k[1]).setAttribute('d',path(ts,b,t0,t));
svg.setAttribute('data-points',a.filter(function(v){return v!=null}).length);card.querySelector('[data-y='+name+']').textContent=num(t)+unit}
function strip(ts,t0,s){var o='',i=0,j;while(i<ts.length){var st=s.state[i];if(st==null){i++;continue}for(j=i;j+1<ts.length&&s.state[j+1]===st&&ts[j+1]-ts[j]<=2*IV;j++);
var a=Math.max(0,x(ts[i]-IV,t0)),b=x(ts[j],t0);o+='<rect class="'+st+'" x="'+a.toFixed(1)+'" y="0" width="'+(b-a).toFixed(1)+'" height="'+S+'"/>';i=j+1}
for(i=0;i<ts.length;i++)if(s.changed[i])o+='<rect class="chg" x="'+(x(ts[i],t0)-1).toFixed(1)+'" y="0" width="2" height="'+S+'"/>';return o}
function draw(h){var ts=h.at_unix_ms,t0=(ts.length?ts[ts.length-1]:0)-WIN;
var all=h.frontends.map(function(e){return['frontend',e]}).concat(h.backends.map(function(e){return['backend',e]}));
if(all.length!=document.querySelectorAll('#charts .card').length){location.reload();return}
all.forEach(function(p){var e=p[1],card=document.querySelector('[data-key="'+CSS.escape(p[0]+'/'+e.name)+'"]');if(!card){location.reload();return}
chart(card,'rate',ts,t0,e.requests_per_s,e.errors_per_s,['req','err'],'/s');chart(card,'lat',ts,t0,e.p50_ms,e.p99_ms,['p50','p99'],' ms');
var v={req:e.requests_per_s,err:e.errors_per_s,p50:e.p50_ms,p99:e.p99_ms};
card.querySelectorAll('[data-v]').forEach(function(b){var s=v[b.getAttribute('data-v')];b.textContent=num(s.length?s[s.length-1]:null)});
(e.servers||[]).forEach(function(s){var g=card.querySelector('svg[data-server="'+CSS.escape(s.name)+'"]');if(g)g.innerHTML=strip(ts,t0,s)})});
document.body.setAttribute('data-refreshed',String(ts.length))}
function charts(){fetch('api/history',{cache:'no-store'}).then(function(r){if(!r.ok)throw r.status;return r.json()}).then(draw).catch(function(){})}
function tables(){fetch(location.pathname,{cache:'no-store'}).then(function(r){if(!r.ok)throw r.status;return r.text()}).then(function(t){
var n=new DOMParser().parseFromString(t,'text/html').querySelectorAll('.live'),o=document.querySelectorAll('.live');
if(n.length==o.length)o.forEach(function(e,i){e.innerHTML=n[i].innerHTML})}).catch(function(){})}
charts();setInterval(charts,@IV@);setInterval(tables,5000)})();"#;

/// The script with this build's window and interval.
pub fn script() -> String {
    SCRIPT
        .replace("@WIN@", &WINDOW_MS.to_string())
        .replace("@IV@", &SAMPLE_EVERY.as_millis().to_string())
}

/// The charts section: a card per frontend and backend.
pub fn section(o: &mut String, view: &View, esc: fn(&str) -> String) {
    o.push_str("<section id=\"charts\"><h2>Last 10 minutes <small>(a sample every 2 s)</small></h2><div class=\"grid\">");
    let t0 = view.times.last().copied().unwrap_or(0) as f64 - WINDOW_MS as f64;
    for e in &view.entities {
        card(o, e, &view.times, t0, esc);
    }
    o.push_str("</div></section>");
}

fn card(o: &mut String, e: &Entity, times: &[u64], t0: f64, esc: fn(&str) -> String) {
    let series = |get: fn(&Rates) -> Option<f32>| -> Vec<Option<f32>> {
        e.rates.iter().map(|r| r.as_ref().and_then(get)).collect()
    };
    let (req, err) = (series(|r| Some(r.requests)), series(|r| Some(r.errors())));
    let (p50, p99) = (series(|r| r.p50_ms), series(|r| r.p99_ms));
    let last = |s: &[Option<f32>]| num(s.last().copied().flatten());
    let kind = if e.kind == "frontend" {
        "Frontend"
    } else {
        "Backend"
    };
    let _ = write!(
        o,
        "<div class=\"card\" data-key=\"{}\"><div class=\"ct\"><b>{kind} {}</b><small>{}</small></div>\
         <div class=\"lg\"><span class=\"k-req\">req/s <b data-v=\"req\">{}</b></span><span class=\"k-err\">err/s <b data-v=\"err\">{}</b></span>\
         <span class=\"k-p50\">p50 <b data-v=\"p50\">{}</b> ms</span><span class=\"k-p99\">p99 <b data-v=\"p99\">{}</b> ms</span></div>",
        esc(&e.key()),
        esc(&e.name),
        esc(&e.detail),
        last(&req),
        last(&err),
        last(&p50),
        last(&p99),
    );
    let what = ["requests and errors per second", "p50 and p99 latency"];
    chart(
        o,
        "rate",
        "/s",
        what[0],
        times,
        t0,
        [("req", &req), ("err", &err)],
    );
    chart(
        o,
        "lat",
        " ms",
        what[1],
        times,
        t0,
        [("p50", &p50), ("p99", &p99)],
    );
    for (name, marks) in &e.servers {
        let _ = write!(
            o,
            "<div class=\"tl\"><span title=\"{0}\">{0}</span><svg viewBox=\"0 0 {W} {STRIP}\" preserveAspectRatio=\"none\" \
             role=\"img\" aria-label=\"state of {0}, last 10 minutes\" data-server=\"{0}\">{1}</svg></div>",
            esc(name),
            strip(times, t0, marks)
        );
    }
    o.push_str("<div class=\"xa\"><span>&minus;10 min</span><span>now</span></div></div>");
}

/// Two lines on one scale, with the scale's top written in the corner.
fn chart(
    o: &mut String,
    name: &str,
    unit: &str,
    what: &str,
    times: &[u64],
    t0: f64,
    lines: [(&str, &[Option<f32>]); 2],
) {
    let highest = lines
        .iter()
        .flat_map(|(_, s)| s.iter().flatten())
        .fold(0f32, |m, v| m.max(*v));
    let top = nice(f64::from(highest));
    let points = lines[0].1.iter().flatten().count();
    let _ = write!(
        o,
        "<div class=\"ch\"><span class=\"ym\" data-y=\"{name}\">{}{unit}</span>\
         <svg viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{what}, last 10 minutes\" \
         data-chart=\"{name}\" data-points=\"{points}\">\
         <line class=\"g\" x1=\"0\" x2=\"{W}\" y1=\"{half}\" y2=\"{half}\"/>",
        num(Some(top as f32)),
        half = H / 2.0,
    );
    for (class, values) in lines {
        let _ = write!(
            o,
            "<path class=\"{class}\" d=\"{}\"/>",
            path(times, values, t0, top)
        );
    }
    o.push_str("</svg></div>");
}

/// The smallest 1, 2 or 5 times a power of ten that is at least `v` (1 for nothing).
pub fn nice(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let e = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0]
        .into_iter()
        .map(|m| m * e)
        .find(|t| *t >= v)
        .unwrap_or(10.0 * e)
}

fn x(t: f64, t0: f64) -> f64 {
    (t - t0) / WINDOW_MS as f64 * W
}

/// An SVG path through the samples that have a value, broken where one has none.
pub fn path(times: &[u64], values: &[Option<f32>], t0: f64, top: f64) -> String {
    let mut d = String::new();
    let mut on = false;
    for (t, v) in times.iter().zip(values) {
        let Some(v) = v else {
            on = false;
            continue;
        };
        let y = H - 1.0 - f64::from(*v) / top * (H - 2.0);
        let _ = write!(
            d,
            "{}{:.1} {y:.1}",
            if on { 'L' } else { 'M' },
            x(*t as f64, t0)
        );
        on = true;
    }
    d
}

/// A server's states as coloured runs, with a dark tick where it changed.
pub fn strip(times: &[u64], t0: f64, marks: &[Option<Mark>]) -> String {
    let every = SAMPLE_EVERY.as_millis() as u64;
    let mut o = String::new();
    let mut i = 0;
    while i < times.len() {
        let Some(Some(m)) = marks.get(i) else {
            i += 1;
            continue;
        };
        let mut j = i;
        while j + 1 < times.len()
            && marks.get(j + 1).copied().flatten().map(|n| n.state) == Some(m.state)
            && times[j + 1] - times[j] <= 2 * every
        {
            j += 1;
        }
        let a = x(times[i] as f64 - every as f64, t0).max(0.0);
        let b = x(times[j] as f64, t0);
        let _ = write!(
            o,
            "<rect class=\"{}\" x=\"{a:.1}\" y=\"0\" width=\"{:.1}\" height=\"{STRIP}\"/>",
            m.state.word(),
            b - a
        );
        i = j + 1;
    }
    for (t, m) in times.iter().zip(marks) {
        if m.is_some_and(|m| m.changed) {
            let _ = write!(
                o,
                "<rect class=\"chg\" x=\"{:.1}\" y=\"0\" width=\"2\" height=\"{STRIP}\"/>",
                x(*t as f64, t0) - 1.0
            );
        }
    }
    o
}

/// A value as the legend shows it: three significant figures or so.
pub fn num(v: Option<f32>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::history::Shown;

    #[test]
    fn scales_end_on_round_numbers() {
        for (v, top) in [
            (0.0, 1.0),
            (f64::NAN, 1.0),
            (0.3, 0.5),
            (1.0, 1.0),
            (1.01, 2.0),
            (4.2, 5.0),
            (7.0, 10.0),
            (99.0, 100.0),
            (130.0, 200.0),
        ] {
            assert!((nice(v) - top).abs() < 1e-9, "nice({v}) = {}", nice(v));
        }
    }

    #[test]
    fn a_path_spans_the_window_and_breaks_at_gaps() {
        let end = 1_000_000u64;
        let t0 = end as f64 - WINDOW_MS as f64;
        let times = [end - WINDOW_MS, end - 4_000, end - 2_000, end];
        let values = [Some(0.0), None, Some(10.0), Some(5.0)];
        let d = path(&times, &values, t0, 10.0);
        // Oldest at the left edge at the bottom, newest at the right edge; the gap
        // starts a new line; the top of the scale is the top of the box.
        assert_eq!(d, "M0.0 79.0M598.0 1.0L600.0 40.0");
        assert_eq!(path(&times, &[None; 4], t0, 1.0), "");
    }

    #[test]
    fn a_strip_has_one_run_per_state_and_ticks_at_changes() {
        let times = [10_000, 12_000, 14_000, 16_000, 30_000];
        let m = |state, changed| Some(Mark { state, changed });
        let marks = [
            m(Shown::Up, false),
            m(Shown::Up, false),
            m(Shown::Down, true),
            m(Shown::Down, false),
            // After a gap in the samples: a run of its own.
            m(Shown::Down, false),
        ];
        let s = strip(&times, 30_000.0 - WINDOW_MS as f64, &marks);
        assert_eq!(s.matches("class=\"up\"").count(), 1, "{s}");
        assert_eq!(s.matches("class=\"down\"").count(), 2, "{s}");
        assert_eq!(s.matches("class=\"chg\"").count(), 1, "{s}");
        assert_eq!(strip(&times, 0.0, &[None; 5]), "");
    }

    #[test]
    fn legend_numbers_keep_about_three_figures() {
        assert_eq!(num(None), "-");
        assert_eq!(num(Some(0.0)), "0.00");
        assert_eq!(num(Some(1.234)), "1.23");
        assert_eq!(num(Some(12.34)), "12.3");
        assert_eq!(num(Some(1234.4)), "1234");
    }
}
