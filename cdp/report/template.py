"""The page: one HTML file with its styles and plotly.js inline, so it opens offline and requests nothing."""

PAGE = """{% macro tiles(items) %}{% if items %}<div class="tiles">
{% for tile in items %}<div class="tile">
  <div class="label">{{ tile.label }}</div><div class="value">{{ tile.value }}</div>
  <div class="detail">{{ tile.detail }}</div>
</div>
{% endfor %}</div>{% endif %}{% endmacro %}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline';
               img-src data: blob:; font-src data:">
<title>CDP report as of {{ as_of }}</title>
<style>
  :root { --ink: #1e293b; --muted: #64748b; --line: #e2e8f0; --panel: #f8fafc; --accent: #0072b2; }
  * { box-sizing: border-box; }
  body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
         color: var(--ink); background: #fff; line-height: 1.45; }
  main { max-width: 1280px; margin: 0 auto; padding: 24px 32px 64px; }
  header { border-bottom: 1px solid var(--line); padding-bottom: 16px; margin-bottom: 20px; }
  h1 { font-size: 26px; margin: 0 0 4px; }
  h2 { font-size: 20px; margin: 40px 0 6px; padding-top: 12px; border-top: 1px solid var(--line); }
  .meta { color: var(--muted); font-size: 14px; }
  .meta b { color: var(--ink); font-weight: 600; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; margin: 16px 0; }
  .tile { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  .tile .label { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
  .tile .value { font-size: 22px; font-weight: 650; margin: 2px 0; font-variant-numeric: tabular-nums;
                 white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .tile .detail { font-size: 12px; color: var(--muted); }
  nav.toc { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; }
  nav.toc ol { margin: 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 4px 18px;
               counter-reset: toc; }
  nav.toc li { counter-increment: toc; font-size: 14px; }
  nav.toc li::before { content: counter(toc) ". "; color: var(--muted); }
  nav.toc a { color: var(--accent); text-decoration: none; }
  nav.toc .empty { color: var(--muted); }
  .intro { color: var(--muted); margin: 0 0 8px; max-width: 900px; }
  .charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px 24px; margin-top: 12px; }
  figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 8px 8px 10px; min-width: 0; }
  figure.wide { grid-column: 1 / -1; }
  figcaption { font-size: 13px; color: var(--muted); padding: 4px 6px 0; }
  .note { background: #f1f5f9; border-left: 3px solid #94a3b8; padding: 8px 12px; margin: 10px 0; font-size: 14px;
          max-width: 1000px; }
  dl.items { display: grid; grid-template-columns: max-content 1fr; gap: 6px 16px; margin: 14px 0; font-size: 14px; }
  dl.items dt { font-weight: 600; }
  dl.items dd { margin: 0; color: var(--muted); }
  table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0 0; }
  caption { text-align: left; color: var(--muted); font-size: 13px; padding: 14px 0 6px; }
  th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
  th { background: var(--panel); font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  footer { margin-top: 48px; color: var(--muted); font-size: 12px; }
  @media (max-width: 900px) { .charts { grid-template-columns: 1fr; } main { padding: 16px; } }
</style>
<script>{{ plotly_js | safe }}</script>
</head>
<body data-chart-count="{{ chart_count }}">
<main>
<header>
  <h1>CDP Warehouse report</h1>
  <div class="meta">as of <b>{{ as_of }}</b> · run <b>{{ run_id or "not recorded" }}</b>
    · generated {{ generated_at }}</div>
  {{ tiles(top_tiles) }}
  <nav class="toc" aria-label="Contents"><ol>
  {% for section in sections %}<li><a href="#{{ section.key }}">{{ section.title }}</a>
    {%- if not section.charts and not section.tables %} <span class="empty">(no data)</span>{% endif %}</li>
  {% endfor %}</ol></nav>
</header>
{% for section in sections %}
<section id="{{ section.key }}">
  <h2>{{ loop.index }}. {{ section.title }}</h2>
  {% if section.intro %}<p class="intro">{{ section.intro }}</p>{% endif %}
  {{ tiles(section.tiles) }}
  {% for note in section.notes %}<p class="note">{{ note }}</p>
  {% endfor %}
  {% if section.charts %}<div class="charts">
  {% for chart in section.charts %}{% set key = section.key ~ "-" ~ chart.key %}
  <figure class="chart{% if chart.wide %} wide{% endif %}" data-chart="{{ key }}">
    {{ chart_html[key] | safe }}
    <figcaption>{{ chart.caption }}</figcaption>
  </figure>
  {% endfor %}</div>{% endif %}
  {% if section.items %}<dl class="items">
  {% for name, text in section.items %}<dt>{{ name }}</dt><dd>{{ text }}</dd>
  {% endfor %}</dl>{% endif %}
  {% for table in section.tables %}<table>
    <caption>{{ table.caption }}</caption>
    <thead><tr>{% for column in table.columns %}<th>{{ column }}</th>{% endfor %}</tr></thead>
    <tbody>{% for row in table.rows %}<tr>
      {%- for cell in row %}<td{% if cell is number %} class="num"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
    {% endfor %}</tbody>
  </table>{% endfor %}
</section>
{% endfor %}
<footer>Generated by cdp.report from the warehouse's marts, ML and audit tables; aggregates only, no personal data.
This file is self-contained: it opens offline and loads nothing from the network.</footer>
</main>
</body>
</html>
"""
