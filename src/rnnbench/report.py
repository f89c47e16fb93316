"""The report's renderer: a report is an abstract and a list of `Section`s (title, paragraphs,
figures, `Table`s), written as Markdown (report.md, figures beside it) and as a self-contained
HTML page (report.html, figures embedded). Figure captions are the .rst files Snakemake's native
report uses (`caption`). Besides, the pieces of text several sections print the same way
(`slope_text`, `varying`, `absent`).

What the report says is decided elsewhere: each experiment's section by its module
(rnnbench.experiments), the setup, claims scorecard and limitations by rnnbench.paper, which
writes the report. Every rate, horizon and slope a section prints carries its 95% interval and
n ('60% [23%, 88%], n = 5'; rnnbench.numbers).
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .numbers import ci, fmt

CLIPPING = "clipping"  # the clip_setting column's header, as in the figures' legends


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # figure stems under the figures folder
    tables: list[Table] = field(default_factory=list)


def absent(s: Section) -> Section:
    """The section of an experiment the configured grid does not run: one sentence, no figure."""
    s.figures, s.paragraphs = [], ["This experiment is not in the configured grid."]
    return s


def slope_text(r) -> str:
    """A decay_rates row's slope with its seed-bootstrap interval and n."""
    return ci(r.slope_log10_per_step, r.slope_low, r.slope_high, r.n_seeds, lambda v: fmt(v, 2))


def varying(df: pd.DataFrame, columns: list[str]) -> list[str]:
    """The columns that take more than one value: table rows split by them."""
    return [c for c in columns if df[c].nunique(dropna=False) > 1]


def caption(path: Path) -> str:
    """Plain text of an .rst caption: bold/literal markup dropped."""
    text = " ".join(path.read_text().split()) if path.exists() else ""
    return re.sub(r"\*\*|``", "", text)


def _cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    return [str(c) for c in table.columns], [
        [fmt(v) for v in row] for row in table.itertuples(index=False)
    ]


def render_markdown(abstract: str, sections: list[Section], captions: dict[str, str]) -> str:
    out = [
        "# Exploding and vanishing gradients in RNNs, measured",
        "",
        "**Abstract.** " + abstract,
        "",
    ]
    for s in sections:
        out += [f"## {s.title}", ""]
        for p in s.paragraphs:
            out += [p, ""]
        for stem in s.figures:
            out += [f"![{stem}](figures/{stem}.png)", "", f"*{captions[stem]}*", ""]
        for table in s.tables:
            if not len(table.frame):
                continue
            out += markdown_table(table.frame)
            out += ["", f"*{table.caption}*", ""] if table.caption else [""]
    return "\n".join(out)


def markdown_table(frame: pd.DataFrame) -> list[str]:
    """The lines of a markdown table of `frame`, its values as `fmt` prints them."""
    head, rows = _cells(frame)
    esc = lambda c: c.replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(map(esc, r)) + " |" for r in rows]


def render_html(
    abstract: str, sections: list[Section], captions: dict[str, str], figures_dir: Path
) -> str:
    e = html.escape
    body = [
        "<h1>Exploding and vanishing gradients in RNNs, measured</h1>",
        f"<p class='abstract'><b>Abstract.</b> {e(abstract)}</p>",
    ]
    for s in sections:
        body.append(f"<h2>{e(s.title)}</h2>")
        body += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        for stem in s.figures:
            data = base64.b64encode((figures_dir / f"{stem}.png").read_bytes()).decode()
            body.append(
                f"<figure><img alt='{e(stem)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{e(captions[stem])}</figcaption></figure>"
            )
        for table in s.tables:
            if not len(table.frame):
                continue
            head, rows = _cells(table.frame)
            cells = "".join(f"<th>{e(h)}</th>" for h in head)
            trs = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
            cls = " class='verdicts'" if "verdict" in head else ""
            body.append(
                f"<table{cls}><thead><tr>{cells}</tr></thead><tbody>{trs}</tbody></table>"
                + (f"<p class='caption'>{e(table.caption)}</p>" if table.caption else "")
            )
    return HTML.format(body="\n".join(body))


HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>rnnbench report</title>
<style>
body {{ font-family: Georgia, serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #222; }}
h1 {{ font-size: 1.7rem; }} h2 {{ border-bottom: 1px solid #ccc; margin-top: 2.2rem; }}
figure {{ margin: 1.5rem 0; }} img {{ max-width: 100%; }}
figcaption, .caption {{ font-size: 0.9rem; color: #444; }}
table {{ border-collapse: collapse; font-size: 0.85rem; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #f2f2f2; }}
.abstract {{ background: #f7f7f7; padding: 0.8rem; }}
</style></head>
<body>
{body}
</body></html>
"""
