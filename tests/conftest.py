"Shared test setup: the tests folder on sys.path (for `iemocap_fixture`, `tiny_data`), the tiny corpus, and the real EmoDB location."
import os, sys, tempfile
from pathlib import Path
import pytest, torch

# crowds fitted by `sermeta_crowd` live in the user's config folder: the tests see an empty one of their own, so
# messages that list the known crowds read the same on every machine (commands the tests start inherit it)
os.environ['SERMETA_CROWDS'] = tempfile.mkdtemp(prefix='sermeta-crowds-')

# the tests train tiny models in this process: one thread is fastest (two threads on a busy 2-core machine spin
# against each other, 10-20x slower), and folds trained in worker processes set their own thread counts
torch.set_num_threads(1)

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path: sys.path.insert(0, str(TESTS))

# CI runs in a fresh clone with shared/ beside the repository: <repo>/../shared/data/emodb
EMODB = Path(__file__).resolve().parents[2]/'shared'/'data'/'emodb'


@pytest.fixture(scope='session')
def emodb_root():
    "The real Berlin EmoDB release files; skip where they are absent."
    if not (EMODB/'erkennung.txt').is_file(): pytest.skip(f'EmoDB not found at {EMODB}')
    return EMODB


@pytest.fixture(scope='session')
def iemocap_tree(tmp_path_factory):
    "A read-only IEMOCAP tree shared by the tests that do not change it: (root, truth)."
    from iemocap_fixture import write_iemocap_tree
    return write_iemocap_tree(tmp_path_factory.mktemp('iemocap'))


@pytest.fixture(scope='module')
def tiny():
    "The tiny random-feature corpus of `tiny_data`: (table, features); one per test module."
    from tiny_data import tiny_corpus
    return tiny_corpus()
