import json
from importlib import metadata
from pathlib import Path

import pytest

from synth.install import install_hint


class Installed:
    """A distribution whose ``direct_url.json`` holds ``origin`` (None: installed from the index)."""

    def __init__(self, origin):
        self.origin = origin

    def read_text(self, name):
        assert name == "direct_url.json"
        return None if self.origin is None else (self.origin if isinstance(self.origin, str)
                                                 else json.dumps(self.origin))


@pytest.mark.parametrize("origin, hint", [
    ({"url": "file:///work/main", "dir_info": {"editable": True}}, 'pip install -e "/work/main[dask]"'),
    ({"url": "file:///srv/my%20synth", "dir_info": {}}, 'pip install "/srv/my synth[dask]"'),
    (None, 'pip install "synth-embeddings[dask]"'),
    ({"url": "https://example.org/synth.tar.gz", "archive_info": {}}, 'pip install "synth-embeddings[dask]"'),
    ({"url": "https://github.com/o/synth", "vcs_info": {"vcs": "git", "commit_id": "abc123"}},
     'pip install "synth-embeddings[dask] @ git+https://github.com/o/synth@abc123"'),
    ("{not json", 'pip install "synth-embeddings[dask]"'),
])
def test_hint_follows_how_the_package_was_installed(origin, hint):
    assert install_hint("dask", dist=Installed(origin)) == hint


def test_hint_for_this_installation_names_a_folder_that_holds_the_project():
    hint = install_hint("embed")
    try:
        origin = json.loads(metadata.distribution("synth-embeddings").read_text("direct_url.json") or "{}")
    except metadata.PackageNotFoundError:
        origin = {"dir_info": {}}
    if "dir_info" in origin:
        folder = hint.split('"')[1].removesuffix("[embed]")
        assert hint.startswith("pip install ") and (Path(folder) / "pyproject.toml").is_file()
    else:
        assert hint == 'pip install "synth-embeddings[embed]"'
