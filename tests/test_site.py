"""`make docs`: the site built from this repository, read as a browser would (stdlib's HTML parser)."""
import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit
import pytest
from notebook_outputs import REPO
from sermeta.site import build_site, site_sources, site_path, is_report_notebook, report_figures


class _Links(HTMLParser):
    "Every (tag, url) of a page's href and src attributes."
    def __init__(self):
        super().__init__(); self.links = []
    def handle_starttag(self, tag, attrs):
        self.links += [(tag, value) for name, value in attrs if name in ('href', 'src') and value is not None]


def links(page) -> list:
    "(tag, url) of every link of the HTML file `page`."
    parser = _Links(); parser.feed(page.read_text(encoding='utf-8'))
    return parser.links


def leaves_site(url) -> bool:
    "True for a link to the web, a mail address, a data: URI or an anchor of the same page."
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc or not parts.path)


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The whole site, built once: (its folder, what build_site returned, {page: its links})."
    out = tmp_path_factory.mktemp('site')/'_site'
    made = build_site(REPO, out, progress=False)
    return out, made, {page: links(page) for page in out.rglob('*.html')}


def test_every_internal_link_resolves(site):
    out, made, pages = site
    assert made['missing'] == []
    broken = [(str(page.relative_to(out)), url) for page, found in pages.items() for _, url in found
              if not leaves_site(url) and not (page.parent/unquote(urlsplit(url).path)).is_file()]
    assert broken == []
    assert len(pages) == made['pages'] > len(site_sources(REPO))


def test_pages_load_nothing_from_the_web(site):
    _, _, pages = site
    fetched = [(page.name, tag, url) for page, found in pages.items() for tag, url in found
               if tag != 'a' and leaves_site(url) and not url.startswith('data:')]
    assert fetched == []


def _images_in(nb) -> int:
    "Image outputs and Markdown images of the notebook `nb` (a dict)."
    outputs = sum(any(k.startswith('image/') for k in o.get('data', {})) for c in nb['cells'] for o in c.get('outputs', []))
    return outputs + sum(''.join(c['source']).count('![') for c in nb['cells'] if c['cell_type'] == 'markdown')


def test_notebook_pages_show_their_images(site):
    out, _, pages = site
    counted = 0
    for source in (s for s in site_sources(REPO) if s.endswith('.ipynb')):
        nb = json.loads((REPO/source).read_text(encoding='utf-8'))
        figures = sum(len(report_figures(REPO, source, ''.join(c['source']))) for c in nb['cells']
                      if c['cell_type'] == 'code') if is_report_notebook(source) else 0
        shown = sum(tag == 'img' for tag, _ in pages[out/site_path(source)])
        assert shown == _images_in(nb) + figures, source
        counted += shown
    assert counted > 0


def test_every_report_figure_is_on_a_page(site):
    out, _, pages = site
    shown = {(page.parent/unquote(url)).resolve() for page, found in pages.items() for tag, url in found
             if tag == 'img' and not leaves_site(url)}
    figures = [p for d in REPO.glob('reports/*') if (d/'README.md').is_file() for p in d.glob('*.png')]
    assert figures and [f.name for f in figures if (out/f.relative_to(REPO)).resolve() not in shown] == []


def test_index_links_every_notebook_and_report(site):
    out, _, pages = site
    linked = {(out/unquote(urlsplit(url).path)).resolve() for _, url in pages[out/'index.html'] if not leaves_site(url)}
    notebooks = [f'nbs/{p.name}' for p in sorted((REPO/'nbs').glob('*.ipynb'))]
    reports = [p.relative_to(REPO).as_posix() for p in sorted(REPO.glob('reports/*/notebooks/*.ipynb'))]
    wanted = notebooks + reports + [s for s in site_sources(REPO) if s.startswith('reports/')]
    assert [s for s in wanted if (out/site_path(s)).resolve() not in linked] == []
