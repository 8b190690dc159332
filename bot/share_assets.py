"""The share page's style and script, inlined into every page (bot.share_page).

They are constants, never formatted with anything a person typed: the page hands the script
its words and times through escaped HTML attributes, and the script puts text into the page
only as text nodes. The script runs on a phone as well as a desktop: one column below 900px
with the player held at the top, the chapters beside the player above it.
"""

from __future__ import annotations

STYLE = """
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#5b6570;--line:#d8dde3;
--accent:#1a5fc9;--soft:rgba(26,95,201,.12);--hl:#ffe97a}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--bg:#15181b;--muted:#9aa4ae;
--line:#30363d;--accent:#7ab0ff;--soft:rgba(122,176,255,.16);--hl:#6b5a00}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
header{max-width:1200px;margin:0 auto;padding:14px 16px 10px}
h1{font-size:1.3rem;line-height:1.3;margin:0;overflow-wrap:anywhere}
h2{font-size:1rem;margin:0 0 8px}
.layout{display:grid;gap:16px;padding:0 16px 32px;max-width:1200px;margin:0 auto;
grid-template-columns:minmax(0,1fr);
grid-template-areas:"player" "chapters" "about" "transcript"}
.player{grid-area:player;position:sticky;top:0;z-index:2;background:var(--bg);padding-bottom:4px}
.chapters{grid-area:chapters}
.about{grid-area:about}
.transcript{grid-area:transcript}
@media (min-width:900px){
.layout{grid-template-columns:minmax(0,2fr) minmax(0,1fr);
grid-template-areas:"player chapters" "about chapters" "transcript transcript"}
.player{position:static}
.chapters ol{max-height:calc(100vh - 120px)}
}
.frame{position:relative;width:100%;aspect-ratio:16/9;background:#000;border-radius:8px;
overflow:hidden}
.frame video,.frame iframe{position:absolute;inset:0;width:100%;height:100%;border:0}
.missing{display:flex;align-items:center;justify-content:center;height:100%;padding:16px;
color:#eee;text-align:center}
ol{list-style:none;margin:0;padding:0;overflow:auto}
.chapters ol{max-height:40vh}
button.seek{display:flex;gap:10px;align-items:baseline;width:100%;min-height:44px;
padding:8px 10px;border:0;border-radius:6px;background:none;color:inherit;font:inherit;
text-align:left;cursor:pointer}
button.seek:hover,button.seek:focus-visible{background:var(--soft);outline:none}
button.seek.current{background:var(--soft);box-shadow:inset 3px 0 0 var(--accent)}
.tc{flex:none;color:var(--accent);font-variant-numeric:tabular-nums}
.text{overflow-wrap:anywhere}
.summary{margin:0 0 12px;white-space:pre-line}
.files{margin:0;color:var(--muted)}
.files a{color:var(--accent)}
input[type=search]{width:100%;padding:10px 12px;border:1px solid var(--line);
border-radius:8px;background:transparent;color:inherit;font:inherit}
.found{min-height:1.5em;margin:6px 0;color:var(--muted)}
#lines{max-height:65vh;overflow:auto;border-top:1px solid var(--line)}
#lines button.seek{min-height:0;padding:6px 10px}
mark{background:var(--hl);color:inherit;border-radius:2px}
.empty{color:var(--muted)}
[hidden]{display:none!important}
"""

SCRIPT = """
(function () {
  "use strict";
  var video = document.getElementById("video");
  var frame = document.getElementById("yt");
  var yt = null;
  if (frame) {
    window.onYouTubeIframeAPIReady = function () {
      var made = new YT.Player("yt", {events: {onReady: function () { yt = made; }}});
    };
  }
  function now() {
    if (video) { return video.currentTime; }
    return yt ? yt.getCurrentTime() : 0;
  }
  function seek(t) {
    if (video) {
      video.currentTime = t;
      var playing = video.play();
      if (playing && playing.catch) { playing.catch(function () {}); }
    } else if (yt) {
      yt.seekTo(t, true);
      yt.playVideo();
    }
  }
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-t]");
    if (!target) { return; }
    event.preventDefault();
    seek(parseFloat(target.getAttribute("data-t")) || 0);
    tick();
  });

  var chapters = [].slice.call(document.querySelectorAll(".chapters [data-t]"));
  var lines = [].slice.call(document.querySelectorAll("#lines [data-t]"));
  function mark(list, t) {
    var current = null;
    for (var i = 0; i < list.length; i++) {
      if (parseFloat(list[i].getAttribute("data-t")) <= t + 0.25) { current = list[i]; }
      else { break; }
    }
    list.forEach(function (el) { el.classList.toggle("current", el === current); });
  }
  function tick() { var t = now(); mark(chapters, t); mark(lines, t); }
  if (video) {
    video.addEventListener("timeupdate", tick);
    video.addEventListener("seeked", tick);
  } else if (frame) {
    setInterval(tick, 500);
  }

  var box = document.getElementById("q");
  var found = document.getElementById("found");
  if (!box) { return; }
  var texts = lines.map(function (line) {
    var span = line.querySelector(".text");
    return {span: span, text: span.textContent, line: line.parentNode};
  });
  function fold(s) { return s.toLowerCase().replace(/ё/g, "е"); }
  function fill(span, text, want) {
    while (span.firstChild) { span.removeChild(span.firstChild); }
    var low = fold(text);
    // Marks only where folding kept every character's place.
    var at = want && low.length === text.length ? low.indexOf(want) : -1;
    var from = 0;
    while (at >= 0) {
      span.appendChild(document.createTextNode(text.slice(from, at)));
      var hit = document.createElement("mark");
      hit.textContent = text.slice(at, at + want.length);
      span.appendChild(hit);
      from = at + want.length;
      at = low.indexOf(want, from);
    }
    span.appendChild(document.createTextNode(text.slice(from)));
  }
  function search() {
    var want = fold(box.value.trim());
    var count = 0;
    texts.forEach(function (item) {
      var hit = !want || fold(item.text).indexOf(want) >= 0;
      item.line.hidden = !hit;
      if (hit && want) { count++; }
      fill(item.span, item.text, hit ? want : "");
    });
    var said = count ? found.getAttribute("data-some").replace("{count}", count)
      : found.getAttribute("data-none");
    found.textContent = want ? said : "";
  }
  box.addEventListener("input", search);
})();
"""
