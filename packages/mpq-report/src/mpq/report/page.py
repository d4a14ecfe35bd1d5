"""The report as one self-contained HTML file: opens offline, nothing fetched.

Figures are inlined as base64 PNG; tables sort by a click on a column head (a few lines of
inline JavaScript, no library); the item browser lists every failure and every prediction that
differs from the uncompressed one, with a text filter. Script errors are written into the page
(``#mpq-errors``) so that a headless browser test can read them from the DOM.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from mpq.core.records import STATUS_OK
from mpq.report.load import against_reference
from mpq.report.tables import MARK_TEXT, Cell, Table

MAX_BROWSER_ROWS = 5000
BROWSER_COLUMNS = ("item_id", "setting", "bpp", "kbps", "prediction", "reference_prediction",
                   "status", "error")  # fmt: skip

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0;font-size:12.5px}
th,td{padding:3px 8px;text-align:left;border-bottom:1px solid #eee;white-space:nowrap}
td.num{text-align:right}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}th:hover{background:#e4e4e4}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
td.title{text-align:left;font-style:italic;background:#fafafa}
.caption{color:#555;font-size:12.5px;max-width:900px}
.figures{display:flex;flex-wrap:wrap;gap:12px}.figures figure{margin:0;width:370px}
.figures img{width:100%}figure.wide{width:100%}figure.wide img{max-width:100%;width:auto}
figcaption{font-size:12px;color:#555}.scroll{overflow:auto;max-height:520px}
tr.failed td{color:#D55E00}tr.flip td:nth-child(4){color:#0072B2;font-weight:600}
#mpq-errors{color:#b00}input[type=search]{width:320px;padding:4px}
"""

SCRIPT = """
(function(){
  var errors=document.getElementById('mpq-errors');
  window.addEventListener('error',function(e){
    errors.textContent+=e.message+' ';errors.className='mpq-js-error';});
  function key(cell){var t=cell.textContent.replace(/[\\u2020\\u2021*]/g,'').trim();
    var n=parseFloat(t);return isNaN(n)||!/^[-+]?[0-9.]/.test(t)?t.toLowerCase():n;}
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('thead th').forEach(function(th,col){
      th.addEventListener('click',function(){
        var up=!th.classList.contains('asc');
        table.querySelectorAll('thead th').forEach(function(h){h.classList.remove('asc','desc');});
        th.classList.add(up?'asc':'desc');
        table.querySelectorAll('tbody').forEach(function(body){
          var rows=Array.prototype.filter.call(body.rows,
            function(r){return !r.querySelector('td.title');});
          rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
            if(typeof x!==typeof y){x=String(x);y=String(y);}
            return (x<y?-1:x>y?1:0)*(up?1:-1);});
          rows.forEach(function(r){body.appendChild(r);});
        });
      });
    });
  });
  var filter=document.getElementById('mpq-filter');
  if(filter){filter.addEventListener('input',function(){
    var q=filter.value.toLowerCase();
    document.querySelectorAll('#mpq-items tbody tr').forEach(function(r){
      r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':'';});
  });}
  document.body.setAttribute('data-mpq-ready','1');
})();
"""


def html_table(table: Table) -> str:
    """A sortable table; each title row (a spanning cell) starts a group that sorts apart."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    bodies, rows = [], []
    for row in table.rows:
        if row and row[0].span:
            if rows:
                bodies.append(rows)
            rows = [
                f'<tr><td class="title" colspan="{len(table.columns)}">'
                f"{html.escape(row[0].text)}</td></tr>"
            ]
            continue
        cells = []
        for cell in row:
            text = html.escape(cell.text) + MARK_TEXT.get(cell.mark, "")
            kind = ' class="num"' if _numeric(cell.text) else ""
            cells.append(f"<td{kind}>{f'<b>{text}</b>' if cell.bold else text}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    bodies.append(rows)
    tbody = "".join(f"<tbody>{''.join(body)}</tbody>" for body in bodies if body)
    return (
        f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>{tbody}'
        f'</table></div><p class="caption">{html.escape(table.caption)}</p>'
    )


def _numeric(text: str) -> bool:
    """Numbers (and '--' for a missing one) align right."""
    head = text.split(" ")[0]
    try:
        float(head)
    except ValueError:
        return head == "--"
    return True


def image(path: Path, caption: str, wide: bool = False) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure class="{"wide" if wide else ""}"><img alt="{html.escape(path.stem)}"'
        f' src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption>'
        "</figure>"
    )


def item_browser(table: pa.Table) -> tuple[Table, int]:
    """Every failed row and every prediction unlike the uncompressed one; (table, rows in all)."""
    rows = against_reference(table)
    picked = rows.filter(
        pc.or_(rows.column("flip"), pc.not_equal(rows.column("status"), STATUS_OK))
    )
    out = Table(
        ["Item", "Setting", "Rate", "Prediction", "Uncompressed prediction", "Status"],
        caption="Rows whose prediction differs from the model's on the uncompressed item"
        " (flip) and rows that failed (with the error).",
    )
    columns = [c for c in BROWSER_COLUMNS if c in picked.column_names]
    for row in picked.slice(0, MAX_BROWSER_ROWS).select(columns).to_pylist():
        rate = row.get("bpp") if row.get("bpp") is not None else row.get("kbps")
        failed = row["status"] != STATUS_OK
        out.rows.append(
            [
                Cell(row["item_id"]),
                Cell(row["setting"]),
                Cell("" if rate is None else f"{rate:.3f}"),
                Cell(_shown(row.get("prediction"))),
                Cell(_shown(row.get("reference_prediction"))),
                Cell(f"failed: {row.get('error') or ''}" if failed else "flip"),
            ]
        )
    return out, picked.num_rows


def _shown(prediction: str | None) -> str:
    if not prediction:
        return ""
    value = json.loads(prediction)
    if isinstance(value, dict):
        value = value.get("label", value.get("normalized", value))
    return str(value)


def browser_section(table: pa.Table) -> str:
    browser, total = item_browser(table)
    shown = len(browser.rows)
    more = f" (the first {shown} of {total})" if total > shown else f" ({total})"
    return (
        f'<p>Flips and failures{more}. <input type="search" id="mpq-filter"'
        ' placeholder="filter: item, setting, label, error"></p>'
        + html_table(browser).replace('<table class="sortable">', '<table class="sortable"'
                                      ' id="mpq-items">', 1)
    )  # fmt: skip


def page(
    title: str,
    sections: Sequence[tuple[str, str]],
    notes: Sequence[str],
) -> str:
    """The whole document: sections are (heading, inner HTML)."""
    body = [f"<h1>{html.escape(title)}</h1>", '<p id="mpq-errors"></p>']
    if notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        body.append(f"<h2>Notes</h2><ul>{items}</ul>")
    body += [f"<h2>{html.escape(heading)}</h2>{inner}" for heading, inner in sections]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        + "".join(body)
        + f"<script>{SCRIPT}</script></body></html>"
    )
